// The N-API module (node-addon-api): `info()`, `run(request, onProgress?)`, `openTransport(options)` and
// `benchTransport(request)`, exactly as runtime/native/addon.ts types them (NativeInfo, NativeRunRequest,
// NativeProgress, NativeRunResult, NativeTransportRequest).
//
// run() reads and type-checks the request and parses the plan on the JS main thread, then runs the plan on a
// std::thread of its own (never the main thread). The run thread talks to JS through one thread-safe function:
// progress events are non-blocking calls, and its release at the end of the run triggers the TSFN's finalizer,
// which runs on the main thread, joins the run thread and resolves or rejects the promise. A step event of a run
// with previewEvery carries the latent (runtime/latent_preview.h), copied into a Float32Array by the main thread.
// The TSFN is referenced while the run lasts, so Node's event loop stays alive until the promise settles; if the
// environment is torn down mid-run (process.exit, a worker terminated), a cleanup hook cancels the run and the
// finalizer joins the thread before the module goes away, so no thread outlives its environment.
//
// A multi-rank run (request.transport) uses the CPU transport that openTransport opened in this process: the run
// thread connects it before the plan runs and closes it when the run ends, whatever the outcome (each run or
// benchTransport uses one transport up). Cancelling such a run also aborts the transport, so that a run blocked
// waiting for a peer stops at once instead of at the timeout.
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
#include "comm/communicator.h"
#include "comm/tcp_transport.h"
#include "runtime/backend.h"
#include "runtime/interpreter.h"

namespace {

// ---- request parsing: every refusal is a TypeError naming the field ----

// The binding being called (main thread only), prefixing every TypeError: "run: request.steps must be ...".
const char* g_api = "run";

[[noreturn]] void type_error(Napi::Env env, const std::string& what) { throw Napi::TypeError::New(env, std::string(g_api) + ": " + what); }

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

// `at`: the request field ("request.weights", "request.decodeWeights"), for messages.
od::WeightsSource parse_weights(Napi::Env env, const Napi::Value& v, const std::string& at = "request.weights") {
  Napi::Object w = object_of(env, v, at);
  Napi::Value kind_value = member(w, "kind");
  if (kind_value.IsEmpty()) type_error(env, at + ".kind is required (\"random\" or \"file\")");
  const std::string kind = string_of(env, kind_value, at + ".kind");
  od::WeightsSource source;
  if (kind == "random") {
    Napi::Value seed = member(w, "seed");
    if (seed.IsEmpty()) type_error(env, at + ".seed is required for random weights");
    source.random = true;
    source.seed = static_cast<uint64_t>(count_of(env, seed, at + ".seed"));
  } else if (kind == "file") {
    Napi::Value path = member(w, "path");
    if (path.IsEmpty()) type_error(env, at + ".path is required for file weights");
    source.path = string_of(env, path, at + ".path");
    Napi::Value ignore = member(w, "ignore");
    if (!ignore.IsEmpty()) {
      if (!ignore.IsArray()) type_error(env, at + ".ignore must be an array of strings, not " + js_type(ignore));
      Napi::Array list = ignore.As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); i++)
        source.ignore.push_back(string_of(env, list.Get(i), at + ".ignore[" + std::to_string(i) + "]"));
    }
  } else {
    type_error(env, at + ".kind must be \"random\" or \"file\", not \"" + kind + "\"");
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
  if (auto x = member(r, "backend"); !x.IsEmpty()) {
    options.backend = string_of(env, x, "request.backend");
    if (options.backend != "cpu" && options.backend != "cuda")
      type_error(env, "request.backend must be \"cpu\" or \"cuda\", not \"" + options.backend + "\"");
  }
  if (auto x = member(r, "device"); !x.IsEmpty()) options.device = static_cast<int>(count_of(env, x, "request.device", 1 << 20));
  if (auto x = member(r, "decode"); !x.IsEmpty()) {
    if (!x.IsBoolean()) type_error(env, "request.decode must be a boolean, not " + js_type(x));
    options.decode = x.As<Napi::Boolean>().Value();
  }
  if (auto x = member(r, "decodeWeights"); !x.IsEmpty()) options.decode_weights = parse_weights(env, x, "request.decodeWeights");
  if (auto x = member(r, "previewEvery"); !x.IsEmpty()) {
    options.preview_every = static_cast<int>(count_of(env, x, "request.previewEvery", 1 << 30));
    if (options.preview_every == 0) type_error(env, "request.previewEvery must be at least 1, not 0 (leave it out for no previews)");
  }
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
      if (auto program = member(c, "program"); !program.IsEmpty()) {
        spec.program = string_of(env, program, path + ".program");
        if (spec.program != "step" && spec.program != "decode")
          type_error(env, path + ".program must be \"step\" or \"decode\", not \"" + spec.program + "\"");
      }
      options.captures.push_back(std::move(spec));
    }
  }
  return options;
}

// ---- the CPU transport ----

// The transport openTransport opened and no run or benchTransport has taken yet (main thread only).
od::TcpTransport* g_unclaimed_transport = nullptr;

struct TransportRequest {
  std::vector<od::TransportPeer> peers;
  int64_t timeout_ms = 0;
};

TransportRequest parse_transport(Napi::Env env, const Napi::Value& v, const std::string& path) {
  Napi::Object o = object_of(env, v, path);
  TransportRequest t;
  Napi::Value peers = member(o, "peers");
  if (peers.IsEmpty()) type_error(env, path + ".peers is required (every rank's { host, port }, by global rank)");
  if (!peers.IsArray()) type_error(env, path + ".peers must be an array of { host, port }, not " + js_type(peers));
  Napi::Array list = peers.As<Napi::Array>();
  if (list.Length() == 0) type_error(env, path + ".peers must name at least one rank");
  for (uint32_t i = 0; i < list.Length(); i++) {
    const std::string at = path + ".peers[" + std::to_string(i) + "]";
    Napi::Object p = object_of(env, list.Get(i), at);
    Napi::Value host = member(p, "host"), port = member(p, "port");
    if (host.IsEmpty()) type_error(env, at + ".host is required");
    if (port.IsEmpty()) type_error(env, at + ".port is required");
    od::TransportPeer peer;
    peer.host = string_of(env, host, at + ".host");
    if (peer.host.empty()) type_error(env, at + ".host must not be empty");
    peer.port = static_cast<int>(count_of(env, port, at + ".port", 65535));
    if (peer.port == 0) type_error(env, at + ".port must be in [1, 65535], not 0");
    t.peers.push_back(std::move(peer));
  }
  Napi::Value timeout = member(o, "timeoutMs");
  if (timeout.IsEmpty()) type_error(env, path + ".timeoutMs is required");
  t.timeout_ms = count_of(env, timeout, path + ".timeoutMs", int64_t(1) << 40);
  if (t.timeout_ms == 0) type_error(env, path + ".timeoutMs must be positive, not 0");
  return t;
}

// Takes the transport openTransport opened for a run or a bench, after checking it fits the request.
od::TcpTransport* claim_transport(Napi::Env env, const TransportRequest& request, const std::string& path) {
  if (g_unclaimed_transport == nullptr)
    throw Napi::Error::New(env, std::string(g_api) + ": " + path + " is given but no transport is open in this process: call openTransport " +
                                    "first (each run or benchTransport uses one up)");
  const int world = od::transport_world(g_unclaimed_transport);
  if (static_cast<int>(request.peers.size()) != world)
    type_error(env, path + ".peers names " + std::to_string(request.peers.size()) + " ranks, but openTransport was given a world of " + std::to_string(world));
  od::TcpTransport* t = g_unclaimed_transport;
  g_unclaimed_transport = nullptr;
  return t;
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
  od::TcpTransport* transport = nullptr;  // a multi-rank run: connected, then closed, by the run thread
  const od::TcpTransport* claimed = nullptr;  // the same, set once on the main thread (only compared, for cancels)
  TransportRequest transport_request;

  // Set by the run thread before it releases the TSFN (the release orders these before the finalizer).
  bool ok = false;
  od::RunResult result;
  std::string error;

  Napi::Reference<Napi::Value> callback_error;  // what onProgress threw (cancels the run)
  bool hook_added = false;
  std::atomic<bool> torn_down{false};

  ~RunState() { od::close_transport(transport); }
};

// The state of one benchTransport call, shared like RunState.
struct BenchState;
void bench_call(Napi::Env, Napi::Function, BenchState*, int*) {}
using BenchTsfn = Napi::TypedThreadSafeFunction<BenchState, int, bench_call>;

struct BenchState {
  explicit BenchState(Napi::Env env) : env(env), deferred(Napi::Promise::Deferred::New(env)) {}
  ~BenchState() { od::close_transport(transport); }
  napi_env env;
  Napi::Promise::Deferred deferred;
  BenchTsfn tsfn;
  std::thread thread;
  od::TcpTransport* transport = nullptr;
  const od::TcpTransport* claimed = nullptr;
  TransportRequest transport_request;
  int64_t bytes = 0, iterations = 0, warmup = 0;
  bool ok = false;
  std::vector<double> seconds;
  std::string error;
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
  int benches = 0;  // benchTransport threads alive
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

void on_process_exit() {
  Registry& r = registry();
  std::unique_lock<std::mutex> lock(r.mutex);
  for (RunState* s : r.runs) s->cancel = true;
  od::abort_open_transport("cancelled: the process is exiting");
  // Runs stop at their next op boundary; a bound keeps a wedged kernel from holding the exit forever.
  r.idle.wait_for(lock, std::chrono::seconds(60), [&] { return r.runs.empty() && r.benches == 0; });
}

// The environment is going away with the run in flight (a worker terminated): stop the run at its next op.
void on_env_cleanup(void* arg) {
  auto* state = static_cast<RunState*>(arg);
  state->torn_down = true;
  state->cancel = true;
  od::abort_transport_if_open(state->claimed, "cancelled: the run's JavaScript environment is shutting down");
}

void on_bench_env_cleanup(void* arg) {
  auto* state = static_cast<BenchState*>(arg);
  state->torn_down = true;
  od::abort_transport_if_open(state->claimed, "cancelled: benchTransport's JavaScript environment is shutting down");
}

Napi::Float32Array float_array(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array a = Napi::Float32Array::New(env, values.size());
  if (!values.empty()) std::memcpy(a.Data(), values.data(), values.size() * sizeof(float));
  return a;
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
    if (p->latent) {
      // The run's snapshot (runtime/latent_preview.h), copied out and given back to the run at once.
      Napi::Object latent = Napi::Object::New(env);
      Napi::Array shape = Napi::Array::New(env, p->latent->shape.size());
      for (size_t d = 0; d < p->latent->shape.size(); d++)
        shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(p->latent->shape[d])));
      latent.Set("shape", shape);
      latent.Set("data", float_array(env, p->latent->data));
      event.Set("latent", latent);
      p->latent.reset();  // back to the run before the callback runs
    }
    state->on_progress.Call(env.Undefined(), {event});
  } catch (const Napi::Error& e) {
    // A throwing progress callback ends the run; the promise rejects with what it threw.
    state->callback_error = Napi::Persistent(e.Value().As<Napi::Value>());
    state->cancel = true;
    od::abort_transport_if_open(state->claimed, "cancelled: onProgress threw");
  } catch (...) {
    state->cancel = true;
    od::abort_transport_if_open(state->claimed, "cancelled: onProgress threw");
  }
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
  timings.Set("decode", r.timings.decode);
  Napi::Array per_step = Napi::Array::New(env, r.timings.per_step.size());
  for (size_t i = 0; i < r.timings.per_step.size(); i++) per_step.Set(static_cast<uint32_t>(i), r.timings.per_step[i]);
  timings.Set("perStep", per_step);
  out.Set("timings", timings);
  out.Set("arenaBytes", static_cast<double>(r.arena_bytes));
  out.Set("weightBytes", static_cast<double>(r.weight_bytes));
  out.Set("threads", r.threads);
  out.Set("backend", r.backend);
  out.Set("deviceBytes", static_cast<double>(r.device_bytes));
  Napi::Object fusions = Napi::Object::New(env);
  fusions.Set("gemmResidual", static_cast<double>(r.fusions.gemm_residual));
  fusions.Set("gatedAdd", static_cast<double>(r.fusions.gated_add));
  out.Set("fusions", fusions);
  Napi::Object overlap = Napi::Object::New(env);
  overlap.Set("spans", static_cast<double>(r.overlap.spans));
  out.Set("overlap", overlap);
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
    if (state->transport != nullptr)
      state->options.comm = od::connect_transport(state->transport, state->transport_request.peers, state->transport_request.timeout_ms);
    state->result = od::run_plan(state->plan, state->weights, state->inputs, state->options, progress, &state->cancel);
    state->ok = true;
  } catch (const std::exception& e) {
    state->error = e.what();
  } catch (...) {
    state->error = "the native runtime failed with an unknown exception";
  }
  // Closed here, not in the finalizer: the peers see this rank stop as soon as it does.
  state->options.comm = nullptr;
  od::close_transport(state->transport);
  state->transport = nullptr;
  state->tsfn.Release();
  // The finalizer joins this thread before it deletes the state, so the state is still valid here.
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.runs.erase(state);
  r.idle.notify_all();
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  g_api = "run";
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
    if (state->options.preview_every > 0 && state->on_progress.IsEmpty())
      type_error(env, "request.previewEvery needs an onProgress callback: the latents arrive in its step events");
    Napi::Value transport = member(r, "transport");
    if (!transport.IsEmpty()) {
      state->transport_request = parse_transport(env, transport, "request.transport");
      state->options.collective_timeout_ms = state->transport_request.timeout_ms;  // NCCL's waits too (cuda/nccl.h)
    }
    try {
      state->plan = od::parse_plan(plan_text);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    if (!transport.IsEmpty()) {
      const int world = static_cast<int>(state->transport_request.peers.size());
      if (world != state->plan.mesh.world)
        type_error(env, "request.transport.peers names " + std::to_string(world) + " ranks, but the plan's mesh has " + std::to_string(state->plan.mesh.world));
      if (g_unclaimed_transport != nullptr && od::transport_rank(g_unclaimed_transport) != state->options.rank)
        type_error(env, "request.rank is " + std::to_string(state->options.rank) + ", but openTransport was given rank " +
                            std::to_string(od::transport_rank(g_unclaimed_transport)));
      state->transport = claim_transport(env, state->transport_request, "request.transport");
      state->claimed = state->transport;
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

// openTransport({ rank, world, host, port? }) -> { port }: this process's listening socket, opened synchronously.
Napi::Value OpenTransport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  g_api = "openTransport";
  if (info.Length() < 1) type_error(env, "expected an options object { rank, world, host, port? }");
  Napi::Object o = object_of(env, info[0], "options");
  Napi::Value rank_value = member(o, "rank"), world_value = member(o, "world"), host_value = member(o, "host"), port_value = member(o, "port");
  if (rank_value.IsEmpty()) type_error(env, "options.rank is required");
  if (world_value.IsEmpty()) type_error(env, "options.world is required");
  if (host_value.IsEmpty()) type_error(env, "options.host is required (127.0.0.1 for ranks on one machine)");
  const int world = static_cast<int>(count_of(env, world_value, "options.world", 1 << 20));
  if (world == 0) type_error(env, "options.world must be at least 1, not 0");
  const int rank = static_cast<int>(count_of(env, rank_value, "options.rank", 1 << 20));
  if (rank >= world) type_error(env, "options.rank must be below options.world (" + std::to_string(world) + "), not " + std::to_string(rank));
  const std::string host = string_of(env, host_value, "options.host");
  const int port = port_value.IsEmpty() ? 0 : static_cast<int>(count_of(env, port_value, "options.port", 65535));
  if (g_unclaimed_transport != nullptr)
    throw Napi::Error::New(env, "openTransport: this process already has an open transport (rank " + std::to_string(od::transport_rank(g_unclaimed_transport)) +
                                    ") that no run has used yet; one transport per process");
  od::TcpTransport* t = nullptr;
  try {
    t = od::open_transport(rank, world, host, port);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("openTransport: ") + e.what());
  }
  g_unclaimed_transport = t;
  Napi::Object out = Napi::Object::New(env);
  out.Set("port", od::transport_port(t));
  return out;
}

void finish_bench(Napi::Env env, void*, BenchState* state) {
  std::unique_ptr<BenchState> owned(state);
  if (state->thread.joinable()) state->thread.join();
  if (state->hook_added && !state->torn_down) napi_remove_env_cleanup_hook(state->env, on_bench_env_cleanup, state);
  if (state->torn_down) return;
  try {
    Napi::HandleScope scope(env);
    if (state->ok) {
      Napi::Object out = Napi::Object::New(env);
      Napi::Array seconds = Napi::Array::New(env, state->seconds.size());
      for (size_t i = 0; i < state->seconds.size(); i++) seconds.Set(static_cast<uint32_t>(i), state->seconds[i]);
      out.Set("seconds", seconds);
      state->deferred.Resolve(out);
    } else {
      state->deferred.Reject(Napi::Error::New(env, state->error).Value());
    }
  } catch (const Napi::Error& e) {
    state->deferred.Reject(e.Value());
  }
}

void bench_thread(BenchState* state) {
  try {
    od::Communicator* comm = od::connect_transport(state->transport, state->transport_request.peers, state->transport_request.timeout_ms);
    const int world = comm->world();
    std::vector<int> group(static_cast<size_t>(world));
    for (int i = 0; i < world; i++) group[static_cast<size_t>(i)] = i;
    const int64_t part = state->bytes / world;
    std::vector<char> in(static_cast<size_t>(state->bytes)), out(static_cast<size_t>(state->bytes));
    for (size_t i = 0; i < in.size(); i++) in[i] = static_cast<char>(i * 131 + static_cast<size_t>(comm->rank()));
    for (int64_t i = 0; i < state->warmup; i++) od::all_to_all_bytes(*comm, group, in.data(), out.data(), part, "benchTransport warmup all_to_all " + std::to_string(i));
    comm->barrier(group, "benchTransport's barrier before the timed all_to_alls");
    state->seconds.reserve(static_cast<size_t>(state->iterations));
    for (int64_t i = 0; i < state->iterations; i++) {
      const auto start = std::chrono::steady_clock::now();
      od::all_to_all_bytes(*comm, group, in.data(), out.data(), part, "benchTransport all_to_all " + std::to_string(i));
      state->seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    state->ok = true;
  } catch (const std::exception& e) {
    state->error = e.what();
  } catch (...) {
    state->error = "benchTransport failed with an unknown exception";
  }
  od::close_transport(state->transport);
  state->transport = nullptr;
  state->tsfn.Release();
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.benches--;
  r.idle.notify_all();
}

// benchTransport({ transport, bytes, iterations, warmup }) -> Promise<{ seconds }>: all-to-alls over all ranks on a
// thread of its own, like run().
Napi::Value BenchTransport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  g_api = "benchTransport";
  auto state = std::make_unique<BenchState>(env);
  Napi::Promise promise = state->deferred.Promise();
  try {
    if (info.Length() < 1) type_error(env, "expected a request object { transport, bytes, iterations, warmup }");
    Napi::Object r = object_of(env, info[0], "request");
    Napi::Value transport = member(r, "transport");
    if (transport.IsEmpty()) type_error(env, "request.transport is required ({ peers, timeoutMs })");
    state->transport_request = parse_transport(env, transport, "request.transport");
    for (const char* key : {"bytes", "iterations", "warmup"})
      if (member(r, key).IsEmpty()) type_error(env, std::string("request.") + key + " is required");
    state->bytes = count_of(env, member(r, "bytes"), "request.bytes", int64_t(1) << 40);
    state->iterations = count_of(env, member(r, "iterations"), "request.iterations", 1 << 30);
    state->warmup = count_of(env, member(r, "warmup"), "request.warmup", 1 << 30);
    if (state->iterations == 0) type_error(env, "request.iterations must be at least 1");
    const int64_t world = static_cast<int64_t>(state->transport_request.peers.size());
    if (state->bytes == 0 || state->bytes % world != 0)
      type_error(env, "request.bytes must be a positive multiple of the world size (" + std::to_string(world) + "), not " + std::to_string(state->bytes));
    state->transport = claim_transport(env, state->transport_request, "request.transport");
    state->claimed = state->transport;
  } catch (const Napi::Error& e) {
    state->deferred.Reject(e.Value());
    return promise;
  }
  BenchState* s = state.get();
  try {
    s->tsfn = BenchTsfn::New(env, "opendit.benchTransport", 0, 1, s, finish_bench, static_cast<void*>(nullptr));
  } catch (const Napi::Error& e) {
    state->deferred.Reject(e.Value());
    return promise;
  }
  state.release();  // owned by the TSFN's finalizer from here on
  s->hook_added = napi_add_env_cleanup_hook(env, on_bench_env_cleanup, s) == napi_ok;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    registry().benches++;
  }
  try {
    s->thread = std::thread(bench_thread, s);
  } catch (const std::exception& e) {
    {
      std::lock_guard<std::mutex> lock(registry().mutex);
      registry().benches--;
    }
    s->error = std::string("could not start the benchTransport thread: ") + e.what();
    s->tsfn.Release();
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
  cuda.Set("built", od::cuda_backend_built());
  cuda.Set("reason", od::cuda_backend_reason());
  // NCCL: the CUDA backend's multi-rank runs (cuda/nccl.h), built only with it.
  Napi::Object nccl = Napi::Object::New(env);
  nccl.Set("built", OPENDIT_NCCL_BUILT != 0);
  nccl.Set("reason", OPENDIT_NCCL_REASON);
  cuda.Set("nccl", nccl);
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
  exports.Set("openTransport", Napi::Function::New(env, OpenTransport, "openTransport"));
  exports.Set("benchTransport", Napi::Function::New(env, BenchTransport, "benchTransport"));
  return exports;
}

}  // namespace

NODE_API_MODULE(opendit, Init)
