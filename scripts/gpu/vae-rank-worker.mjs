// One rank of a native run in its own process, for scripts/gpu/check-vae.mjs and bench-vae.mjs (forked by
// vae-common.mjs `runRanks` with child_process.fork and `serialization: "advanced"`, so typed arrays cross the IPC
// channel as they are). Plain JS over the built addon. The parent sends, in order:
//   {type: "open", addon, rank, world}        world > 1: opens this process's transport endpoint, answers
//                                             {type: "port", port}; world 1: answers {type: "port", port: 0}
//   {type: "run", request, peers, timeoutMs, outputs}
//                                             runs the rank (over the transport when world > 1), collecting every
//                                             progress event, and answers {type: "done", outputs, stats, timings,
//                                             deviceBytes, progress} or {type: "error", message}, then exits.
// `outputs`: "all" sends every output tensor back; "stats" only each output's shape and summary (count,
// non-finite values, mean, rms, max |x|), which is what a benchmark of an 80-frame video needs.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let addon;
let rank = -1;
let world = 1;

function reply(message) {
  return new Promise((resolve) => process.send(message, () => resolve()));
}

function summary(data) {
  let nonFinite = 0;
  let sum = 0;
  let squares = 0;
  let maxAbs = 0;
  for (const v of data) {
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    sum += v;
    squares += v * v;
    if (Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
  }
  const n = data.length - nonFinite;
  return { count: data.length, nonFinite, mean: n ? sum / n : 0, rms: n ? Math.sqrt(squares / n) : 0, maxAbs };
}

process.on("message", async (m) => {
  try {
    if (m.type === "open") {
      addon = require(m.addon);
      rank = m.rank;
      world = m.world;
      const port = world > 1 ? addon.openTransport({ rank, world, host: "127.0.0.1" }).port : 0;
      await reply({ type: "port", port });
      return;
    }
    if (m.type === "run") {
      const progress = [];
      const request = world > 1 ? { ...m.request, rank, transport: { peers: m.peers, timeoutMs: m.timeoutMs } } : { ...m.request, rank };
      const result = await addon.run(request, (p) => progress.push({ phase: p.phase, step: p.step, steps: p.steps, seconds: p.seconds }));
      await reply({
        type: "done",
        rank,
        outputs: m.outputs === "all" ? result.outputs.map((o) => ({ name: o.name, shape: [...o.shape], data: o.data })) : [],
        stats: result.outputs.map((o) => ({ name: o.name, shape: [...o.shape], ...summary(o.data) })),
        timings: result.timings,
        deviceBytes: result.deviceBytes,
        progress,
      });
      process.exit(0);
    }
    throw new Error(`unknown message ${JSON.stringify(m.type)}`);
  } catch (error) {
    await reply({ type: "error", rank, message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
});
