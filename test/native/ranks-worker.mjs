// One rank of a multi-rank native run, in its own process (test/native/multirank.test.ts forks one per rank with
// child_process.fork and `serialization: "advanced"`, so typed arrays cross the IPC channel as they are).
// Plain JS: a child process cannot run the TypeScript sources. The parent sends, in order:
//   {type: "open", addon, rank, world}     -> opens this process's transport endpoint, answers {type: "port", port}
//   {type: "run", request, peers, timeoutMs} -> runs the rank over the transport, answers
//       {type: "done", outputs: [{name, shape, data}], steps} or {type: "error", message}, then exits.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let addon;
let rank = -1;

function reply(message) {
  return new Promise((resolve) => process.send(message, () => resolve()));
}

process.on("message", async (m) => {
  try {
    if (m.type === "open") {
      addon = require(m.addon);
      rank = m.rank;
      const { port } = addon.openTransport({ rank: m.rank, world: m.world, host: "127.0.0.1" });
      await reply({ type: "port", port });
      return;
    }
    if (m.type === "run") {
      const result = await addon.run({ ...m.request, rank, transport: { peers: m.peers, timeoutMs: m.timeoutMs } });
      await reply({
        type: "done",
        outputs: result.outputs.map((o) => ({ name: o.name, shape: [...o.shape], data: o.data })),
        steps: result.timings.perStep.length,
      });
      process.exit(0);
    }
    throw new Error(`unknown message ${JSON.stringify(m.type)}`);
  } catch (error) {
    await reply({ type: "error", message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
});
