/**
 * The entry of a rank process the launcher starts (`node dist/runtime/launch/rank-main.js`): reads its rank from
 * the environment (runtime/launch/env.ts), the job from OPENDIT_JOB, runs the rank (rank.ts) and exits 0, or 1
 * after writing OPENDIT_ERROR_FILE and reporting to the store. SIGTERM and SIGINT end it at once (exit 143/130):
 * the launcher stops every rank that way when one fails, and the rank's native thread cannot be interrupted.
 */
import { rankEnvironment } from "./env.js";
import { readJob } from "./job.js";
import { runRank, writeErrorFile } from "./rank.js";

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  process.on(signal, () => process.exit(code));
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<number> {
  let inRank = false;
  try {
    const env = rankEnvironment(process.env);
    if (!env || env.launcher !== "opendit" || !env.job) throw new Error("rank-main.js is started by `opendit run` (OPENDIT_RANK and OPENDIT_JOB are not set)");
    const job = await readJob(env.job);
    log(`rank ${env.rank} of ${env.world} (local ${env.localRank}) pid ${process.pid}: ${job.plan.name}`);
    inRank = true;
    const result = await runRank(job, env, {
      onJoined: (c) => log(`joined the rendezvous: ${c.peers.length} peers`),
    });
    log(`done: ${result.timings.perStep.length} steps in ${result.timings.steps.toFixed(3)} s`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`error: ${message}`);
    // runRank wrote the error file itself; an error before it (environment, job file) is written here.
    if (!inRank) writeErrorFile(process.env["OPENDIT_ERROR_FILE"], { rank: Number(process.env["OPENDIT_RANK"] ?? -1), message, time: Date.now() });
    return 1;
  }
}

void main().then((code) => {
  // The native thread of an aborted run may still be running: do not wait for it.
  process.exit(code);
});
