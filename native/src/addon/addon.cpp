// The N-API module (node-addon-api): `info()` and `run(request, onProgress?)`, exactly as runtime/native/addon.ts
// types them (NativeInfo, NativeRunRequest, NativeProgress, NativeRunResult).
//
// run() reads and type-checks the request and parses the plan on the JS main thread, then runs the plan on a
// std::thread of its own (never the main thread). The run thread talks to JS through one thread-safe function:
// progress events are non-blocking calls, and its release at the end of the run triggers the TSFN's finalizer,
// which runs on the main thread, joins the run thread and resolves or rejects the promise. The TSFN is referenced
// while the run lasts, so Node's event loop stays alive until the promise settles; if the environment is torn
// down mid-run (process.exit, a worker terminated), a cleanup hook cancels the run and the finalizer joins the
// thread before the module goes away, so no thread outlives its environment.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "build_info.h"
#include "runtime/interpreter.h"

namespace {

// ---- request parsing: every refusal is a TypeError naming the field ----

[[noreturn]] void type_error(Napi::Env env, const std::string& what) { throw Napi::TypeError::New(env, "run: " + what); }

std::string js_type(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "another typed array";
    }
  }
  if (v.IsArray()) return "an array";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsFunction()) return "a function";
  return "an object";
}

// The member `key` of `obj`, or an empty value when it is absent, undefined or null.
Napi::Value member(const Napi::Object& obj, const char* key) {
  if (!obj.Has(key)) return Napi::Value();
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return Napi::Value();
  return v;
}

// A number as JavaScript would print it, near enough for messages (-1, 0.5, 1e+300).
std::string js_number(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

double number_of(Napi::Env env, const Napi::Value& v, const std::string& path) {
  if (!v.IsNumber()) type_error(env, path + " must be a number, not " + js_type(v));
  return v.As<Napi::Number>().DoubleValue();
}

// A non-negative safe integer (seeds, ranks, counts).
int64_t count_of(Napi::Env env, const Napi::Value& v, const std::string& path, int64_t max = 9007199254740991LL) {
  const double d = number_of(env, v, path);
  if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > static_cast<double>(max))
    type_error(env, path + " must be an integer in [0, " + std::to_string(max) + "], not " + js_number(d));
  return static_cast<int64_t>(d);
}

std::string string_of(Napi::Env env, const Napi::Value& v, const std::string& path) {
  if (!v.IsString()) type_error(env, path + " must be a string, not " + js_type(v));
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object object_of(Napi::Env env, const Napi::Value& v, const std::string& path) {
  if (v.IsEmpty() || !v.IsObject() || v.IsArray() || v.IsFunction())
    type_error(env, path + " must be an object, not " + (v.IsEmpty() ? std::string("missing") : js_type(v)));
  return v.As<Napi::Object>();
}

// Copies a typed array of the expected kind (the run thread must not touch JS memory).
template <class T>
std::vector<T> typed_copy(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const char* kind, const std::string& path) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    type_error(env, path + " must be " + kind + ", not " + js_type(v));
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

od::WeightsSource parse_weights(Napi::Env env, const Napi::Value& v) {
  Napi::Object w = object_of(env, v, "request.weights");
  Napi::Value kind_value = member(w, "kind");
  if (kind_value.IsEmpty()) type_error(env, "request.weights.kind is required (\"random\" or \"file\")");
  const std::string kind = string_of(env, kind_value, "request.weights.kind");
  od::WeightsSource source;
  if (kind == "random") {
    Napi::Value seed = member(w, "seed");
    if (seed.IsEmpty()) type_error(env, "request.weights.seed is required for random weights");
    source.random = true;
    source.seed = static_cast<uint64_t>(count_of(env, seed, "request.weights.seed"));
  } else if (kind == "file") {
    Napi::Value path = member(w, "path");
    if (path.IsEmpty()) type_error(env, "request.weights.path is required for file weights");
    source.path = string_of(env, path, "request.weights.path");
    Napi::Value ignore = member(w, "ignore");
    if (!ignore.IsEmpty()) {
      if (!ignore.IsArray()) type_error(env, "request.weights.ignore must be an array of strings, not " + js_type(ignore));
      Napi::Array list = ignore.As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); i++)
        source.ignore.push_back(string_of(env, list.Get(i), "request.weights.ignore[" + std::to_string(i) + "]"));
    }
  } else {
    type_error(env, "request.weights.kind must be \"random\" or \"file\", not \"" + kind + "\"");
  }
  return source;
}

od::RunInputs parse_inputs(Napi::Env env, const Napi::Value& v) {
  od::RunInputs in;
  if (v.IsEmpty()) return in;
  Napi::Object o = object_of(env, v, "request.inputs");
  if (auto x = member(o, "noise"); !x.IsEmpty())
    in.noise = typed_copy<float>(env, x, napi_float32_array, "a Float32Array", "request.inputs.noise");
  if (auto x = member(o, "noiseSeed"); !x.IsEmpty())
    in.noise_seed = static_cast<uint64_t>(count_of(env, x, "request.inputs.noiseSeed"));
  if (auto x = member(o, "text"); !x.IsEmpty())
    in.text = typed_copy<float>(env, x, napi_float32_array, "a Float32Array", "request.inputs.text");
  if (auto x = member(o, "negativeText"); !x.IsEmpty())
    in.negative_text = typed_copy<float>(env, x, napi_float32_array, "a Float32Array", "request.inputs.negativeText");
  if (auto x = member(o, "textMask"); !x.IsEmpty())
    in.text_mask = typed_copy<float>(env, x, napi_float32_array, "a Float32Array", "request.inputs.textMask");
  if (auto x = member(o, "labels"); !x.IsEmpty())
    in.labels = typed_copy<int32_t>(env, x, napi_int32_array, "an Int32Array", "request.inputs.labels");
  if (auto x = member(o, "timestep"); !x.IsEmpty()) {
    if (x.IsNumber()) {
      in.timestep = {x.As<Napi::Number>().DoubleValue()};
    } else if (x.IsTypedArray() && x.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
      in.timestep = typed_copy<double>(env, x, napi_float64_array, "a Float64Array", "request.inputs.timestep");
      if (in.timestep.empty()) type_error(env, "request.inputs.timestep must hold at least one value");
    } else {
      type_error(env, "request.inputs.timestep must be a number or a Float64Array, not " + js_type(x));
    }
  }
  return in;
}

od::RunOptions parse_options(Napi::Env env, const Napi::Object& r) {
  od::RunOptions options;
  if (auto x = member(r, "rank"); !x.IsEmpty()) options.rank = static_cast<int>(count_of(env, x, "request.rank", 1 << 20));
  if (auto x = member(r, "steps"); !x.IsEmpty()) options.steps = static_cast<int>(count_of(env, x, "request.steps", 1 << 30));
  if (auto x = member(r, "threads"); !x.IsEmpty()) options.threads = static_cast<int>(count_of(env, x, "request.threads", 4096));
  if (auto x = member(r, "captures"); !x.IsEmpty()) {
    if (!x.IsArray()) type_error(env, "request.captures must be an array of { op, buffer }, not " + js_type(x));
    Napi::Array list = x.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      const std::string path = "request.captures[" + std::to_string(i) + "]";
      Napi::Object c = object_of(env, list.Get(i), path);
      od::CaptureSpec spec;
      Napi::Value op = member(c, "op"), buffer = member(c, "buffer");
      if (op.IsEmpty()) type_error(env, path + ".op is required");
      if (buffer.IsEmpty()) type_error(env, path + ".buffer is required");
      spec.op_id = static_cast<int>(count_of(env, op, path + ".op", 1 << 30));
      spec.buffer = string_of(env, buffer, path + ".buffer");
      options.captures.push_back(std::move(spec));
    }
  }
  return options;
}

// ---- one run: the state shared by the main thread and the run thread ----

struct RunState;
void call_progress(Napi::Env env, Napi::Function, RunState* state, od::Progress* progress);
using Tsfn = Napi::TypedThreadSafeFunction<RunState, od::Progress, call_progress>;

struct RunState {
  explicit RunState(Napi::Env env) : env(env), deferred(Napi::Promise::Deferred::New(env)) {}
  napi_env env;
  Napi::Promise::Deferred deferred;
  Napi::FunctionReference on_progress;  // empty: no progress callback
  Tsfn tsfn;
  std::thread thread;

  od::Plan plan;
  od::WeightsSource weights;
  od::RunInputs inputs;
  od::RunOptions options;
  std::atomic<bool> cancel{false};

  // Set by the run thread before it releases the TSFN (the release orders these before the finalizer).
  bool ok = false;
  od::RunResult result;
  std::string error;

  Napi::Reference<Napi::Value> callback_error;  // what onProgress threw (cancels the run)
  bool hook_added = false;
  std::atomic<bool> torn_down{false};
};

// Every run whose thread is alive, for process exit: process.exit() in the main thread runs no environment
// cleanup hooks, only atexit handlers, so one of those cancels the runs and waits for their threads to stop
// before the process (and the statics they use) goes away. Never destroyed, for the same reason.
struct Registry {
  std::mutex mutex;
  std::condition_variable idle;
  std::set<RunState*> runs;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

void on_process_exit() {
  Registry& r = registry();
  std::unique_lock<std::mutex> lock(r.mutex);
  for (RunState* s : r.runs) s->cancel = true;
  // Runs stop at their next op boundary; a bound keeps a wedged kernel from holding the exit forever.
  r.idle.wait_for(lock, std::chrono::seconds(60), [&] { return r.runs.empty(); });
}

// The environment is going away with the run in flight (a worker terminated): stop the run at its next op.
void on_env_cleanup(void* arg) {
  auto* state = static_cast<RunState*>(arg);
  state->torn_down = true;
  state->cancel = true;
}

// On the main thread, for each progress event of the run thread. env is null when the TSFN is being torn down
// with events still queued: they are only freed.
void call_progress(Napi::Env env, Napi::Function, RunState* state, od::Progress* progress) {
  std::unique_ptr<od::Progress> p(progress);
  if (env == nullptr || state->on_progress.IsEmpty() || !state->callback_error.IsEmpty()) return;
  try {
    Napi::HandleScope scope(env);
    Napi::Object event = Napi::Object::New(env);
    event.Set("phase", p->phase);
    event.Set("step", p->step);
    event.Set("steps", p->steps);
    event.Set("seconds", p->seconds);
    state->on_progress.Call(env.Undefined(), {event});
  } catch (const Napi::Error& e) {
    // A throwing progress callback ends the run; the promise rejects with what it threw.
    state->callback_error = Napi::Persistent(e.Value().As<Napi::Value>());
    state->cancel = true;
  } catch (...) {
    state->cancel = true;
  }
}

Napi::Float32Array float_array(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array a = Napi::Float32Array::New(env, values.size());
  if (!values.empty()) std::memcpy(a.Data(), values.data(), values.size() * sizeof(float));
  return a;
}

Napi::Object result_object(Napi::Env env, const od::RunResult& r) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array outputs = Napi::Array::New(env, r.outputs.size());
  for (size_t i = 0; i < r.outputs.size(); i++) {
    const od::OutputTensor& t = r.outputs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    Napi::Array shape = Napi::Array::New(env, t.shape.size());
    for (size_t d = 0; d < t.shape.size(); d++) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.shape[d])));
    o.Set("shape", shape);
    o.Set("data", float_array(env, t.data));
    outputs.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("outputs", outputs);
  Napi::Array captures = Napi::Array::New(env, r.captures.size());
  for (size_t i = 0; i < r.captures.size(); i++) captures.Set(static_cast<uint32_t>(i), float_array(env, r.captures[i]));
  out.Set("captures", captures);
  Napi::Object timings = Napi::Object::New(env);
  timings.Set("load", r.timings.load);
  timings.Set("bind", r.timings.bind);
  timings.Set("inputs", r.timings.inputs);
  timings.Set("setup", r.timings.setup);
  timings.Set("steps", r.timings.steps);
  timings.Set("outputs", r.timings.outputs);
  Napi::Array per_step = Napi::Array::New(env, r.timings.per_step.size());
  for (size_t i = 0; i < r.timings.per_step.size(); i++) per_step.Set(static_cast<uint32_t>(i), r.timings.per_step[i]);
  timings.Set("perStep", per_step);
  out.Set("timings", timings);
  out.Set("arenaBytes", static_cast<double>(r.arena_bytes));
  out.Set("weightBytes", static_cast<double>(r.weight_bytes));
  out.Set("threads", r.threads);
  return out;
}

// On the main thread once the run thread has released the TSFN (or the environment closed it): join, settle.
void finish_run(Napi::Env env, void*, RunState* state) {
  std::unique_ptr<RunState> owned(state);
  if (state->thread.joinable()) state->thread.join();
  if (state->hook_added && !state->torn_down) napi_remove_env_cleanup_hook(state->env, on_env_cleanup, state);
  if (state->torn_down) return;  // nobody is left to see the promise
  try {
    Napi::HandleScope scope(env);
    if (!state->callback_error.IsEmpty()) {
      state->deferred.Reject(state->callback_error.Value());
    } else if (state->ok) {
      state->deferred.Resolve(result_object(env, state->result));
    } else {
      state->deferred.Reject(Napi::Error::New(env, state->error).Value());
    }
  } catch (const Napi::Error& e) {
    // Building the result failed (out of JS memory): reject with that instead.
    state->deferred.Reject(e.Value());
  }
}

void run_thread(RunState* state) {
  od::ProgressFn progress;
  if (!state->on_progress.IsEmpty()) {
    progress = [state](const od::Progress& p) {
      auto* copy = new od::Progress(p);
      if (state->tsfn.NonBlockingCall(copy) != napi_ok) delete copy;  // closing: the event is dropped
    };
  }
  try {
    state->result = od::run_plan(state->plan, state->weights, state->inputs, state->options, progress, &state->cancel);
    state->ok = true;
  } catch (const std::exception& e) {
    state->error = e.what();
  } catch (...) {
    state->error = "the native runtime failed with an unknown exception";
  }
  state->tsfn.Release();
  // The finalizer joins this thread before it deletes the state, so the state is still valid here.
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.runs.erase(state);
  r.idle.notify_all();
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto state = std::make_unique<RunState>(env);
  Napi::Promise promise = state->deferred.Promise();
  try {
    if (info.Length() < 1) type_error(env, "expected a request object");
    Napi::Object r = object_of(env, info[0], "request");
    if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull()) {
      if (!info[1].IsFunction()) type_error(env, "onProgress must be a function, not " + js_type(info[1]));
      state->on_progress = Napi::Persistent(info[1].As<Napi::Function>());
    }
    Napi::Value plan_value = member(r, "plan");
    if (plan_value.IsEmpty()) type_error(env, "request.plan is required (the plan's JSON text)");
    const std::string plan_text = string_of(env, plan_value, "request.plan");
    state->weights = parse_weights(env, member(r, "weights"));
    state->inputs = parse_inputs(env, member(r, "inputs"));
    state->options = parse_options(env, r);
    try {
      state->plan = od::parse_plan(plan_text);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  } catch (const Napi::Error& e) {
    state->deferred.Reject(e.Value());
    return promise;
  }

  RunState* s = state.get();
  try {
    s->tsfn = Tsfn::New(env, "opendit.run", 0, 1, s, finish_run, static_cast<void*>(nullptr));
  } catch (const Napi::Error& e) {
    state->deferred.Reject(e.Value());
    return promise;
  }
  state.release();  // owned by the TSFN's finalizer from here on
  s->hook_added = napi_add_env_cleanup_hook(env, on_env_cleanup, s) == napi_ok;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    registry().runs.insert(s);
  }
  try {
    s->thread = std::thread(run_thread, s);
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(registry().mutex);
      registry().runs.erase(s);
    }
    s->error = std::string("could not start the run thread: ") + e.what();
    s->tsfn.Release();  // the finalizer rejects
  }
  return promise;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", OPENDIT_VERSION);
  Napi::Object backends = Napi::Object::New(env);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("built", true);
  const unsigned hw = std::thread::hardware_concurrency();
  cpu.Set("threads", hw == 0 ? 1u : hw);
  cpu.Set("compiler", OPENDIT_CXX_COMPILER);
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("built", OPENDIT_CUDA_BUILT != 0);
  cuda.Set("reason", OPENDIT_CUDA_REASON);
  backends.Set("cpu", cpu);
  backends.Set("cuda", cuda);
  out.Set("backends", backends);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag exit_hook;
  std::call_once(exit_hook, [] { std::atexit(on_process_exit); });
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  return exports;
}

}  // namespace

NODE_API_MODULE(opendit, Init)
