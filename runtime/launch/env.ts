/**
 * The environment contract of a rank process (runtime/launch/README.md, "The environment of a rank"): what the
 * launcher sets for every rank it starts, and what an `opendit run` reads when a foreign launcher (torchrun,
 * Slurm's srun, Open MPI's mpirun, MPICH/PMI) started it, so that it acts as one rank of the plan.
 *
 * Our own variables (set by runtime/launch/launcher.ts for rank-main.ts):
 * - OPENDIT_RANK, OPENDIT_LOCAL_RANK, OPENDIT_WORLD_SIZE: the global rank, its index on its node, the world.
 * - OPENDIT_JOB: the path of the job JSON (runtime/launch/job.ts) the rank rebuilds its run from.
 * - OPENDIT_RENDEZVOUS: host:port of the rendezvous store (runtime/launch/store.ts).
 * - OPENDIT_ERROR_FILE: where the rank writes {rank, message, time} when it fails.
 * - OPENDIT_COLLECTIVE_TIMEOUT: milliseconds a connection or a collective may wait (default 60000).
 * - OPENDIT_HOST: the address this rank's transport endpoint is published under (default below).
 * - CUDA_VISIBLE_DEVICES: for a rank of the CUDA backend, its one device.
 *
 * Foreign launchers (checked in this order, after ours):
 * - torchrun: RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT. torchrun's own TCPStore listens on
 *   MASTER_PORT, so our store listens on MASTER_PORT + 1 on MASTER_ADDR.
 * - Open MPI: OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK.
 * - MPICH / Intel MPI / PMI: PMI_RANK, PMI_SIZE (local rank from MPI_LOCALRANKID or PMI_LOCAL_RANK, else 0).
 * - Slurm: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID.
 * Under MPI and Slurm the store is at OPENDIT_RENDEZVOUS, else MASTER_ADDR:MASTER_PORT (as given, no + 1);
 * neither set is an error that says what to set. OPENDIT_RENDEZVOUS always wins when it is set.
 */

/** The variables the launcher sets for a rank process. */
export const ENV = {
  rank: "OPENDIT_RANK",
  localRank: "OPENDIT_LOCAL_RANK",
  world: "OPENDIT_WORLD_SIZE",
  job: "OPENDIT_JOB",
  rendezvous: "OPENDIT_RENDEZVOUS",
  rendezvousTimeout: "OPENDIT_RENDEZVOUS_TIMEOUT",
  errorFile: "OPENDIT_ERROR_FILE",
  collectiveTimeout: "OPENDIT_COLLECTIVE_TIMEOUT",
  host: "OPENDIT_HOST",
} as const;

/** Milliseconds a connection or a collective may wait, when OPENDIT_COLLECTIVE_TIMEOUT is not set. */
export const DEFAULT_COLLECTIVE_TIMEOUT_MS = 60_000;
/** Milliseconds the rendezvous waits for every rank, when OPENDIT_RENDEZVOUS_TIMEOUT is not set. */
export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 60_000;

export type Env = Readonly<Record<string, string | undefined>>;

/** Which launcher started the process. */
export type LauncherKind = "opendit" | "torchrun" | "openmpi" | "pmi" | "slurm";

export interface Address {
  readonly host: string;
  readonly port: number;
}

/** One rank's view of the job, from its environment. */
export interface RankEnvironment {
  readonly launcher: LauncherKind;
  readonly rank: number;
  readonly localRank: number;
  readonly world: number;
  /** The store's address; absent only where the caller must give one (`--rendezvous`). */
  readonly rendezvous?: Address;
  /** OPENDIT_JOB (our launcher only). */
  readonly job?: string;
  readonly errorFile?: string;
  readonly collectiveTimeoutMs: number;
  readonly rendezvousTimeoutMs: number;
  /** OPENDIT_HOST, when set. */
  readonly host?: string;
}

/** An environment that does not describe a rank consistently. */
export class LaunchEnvError extends Error {
  override readonly name = "LaunchEnvError";
}

function wholeNumber(env: Env, name: string, min: number): number {
  const text = env[name];
  if (text === undefined || text.trim() === "") throw new LaunchEnvError(`${name} is not set`);
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < min) throw new LaunchEnvError(`${name} is \`${text}\`; it must be a whole number of at least ${min}`);
  return value;
}

function optionalWhole(env: Env, name: string, min: number, fallback: number): number {
  return env[name] === undefined || env[name]!.trim() === "" ? fallback : wholeNumber(env, name, min);
}

/** `host:port` (an IPv6 host in brackets) as an Address; `what` names the source in the error. */
export function parseAddress(text: string, what: string): Address {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text.trim()) ?? /^([^:\s]+):(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(Number.isSafeInteger(port) && port >= 1 && port <= 65535)) {
    throw new LaunchEnvError(`${what} is \`${text}\`; it must be host:port, such as 10.0.0.1:29600`);
  }
  return { host: m[1]!, port };
}

export function formatAddress(address: Address): string {
  return address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function masterAddress(env: Env, plusOne: boolean): Address | undefined {
  const host = env["MASTER_ADDR"];
  if (host === undefined || host.trim() === "") return undefined;
  const port = wholeNumber(env, "MASTER_PORT", 1);
  const store = plusOne ? port + 1 : port;
  if (store > 65535) throw new LaunchEnvError(`MASTER_PORT is ${port}; opendit's store listens on MASTER_PORT + 1, which is past 65535`);
  return { host: host.trim(), port: store };
}

function commonFields(env: Env): Pick<RankEnvironment, "collectiveTimeoutMs" | "rendezvousTimeoutMs" | "errorFile" | "host"> {
  return {
    collectiveTimeoutMs: optionalWhole(env, ENV.collectiveTimeout, 1, DEFAULT_COLLECTIVE_TIMEOUT_MS),
    rendezvousTimeoutMs: optionalWhole(env, ENV.rendezvousTimeout, 1, DEFAULT_RENDEZVOUS_TIMEOUT_MS),
    ...(env[ENV.errorFile] ? { errorFile: env[ENV.errorFile]! } : {}),
    ...(env[ENV.host] ? { host: env[ENV.host]! } : {}),
  };
}

function checked(e: RankEnvironment, names: { rank: string; world: string; localRank: string }): RankEnvironment {
  if (e.rank >= e.world) throw new LaunchEnvError(`${names.rank} is ${e.rank}, but ${names.world} is ${e.world}: a rank must be below the world size`);
  if (e.localRank > e.rank) throw new LaunchEnvError(`${names.localRank} is ${e.localRank}, above ${names.rank} ${e.rank}: a rank's index on its node cannot exceed its global rank`);
  return e;
}

/**
 * The rank this process is, from its environment: ours (OPENDIT_RANK), else a foreign launcher's; undefined when
 * nothing says the process is one rank of several. Throws LaunchEnvError for an inconsistent environment (a rank
 * not below the world, a number that is not one, MPI or Slurm without a store address).
 */
export function rankEnvironment(env: Env): RankEnvironment | undefined {
  const rendezvous = env[ENV.rendezvous] ? parseAddress(env[ENV.rendezvous]!, ENV.rendezvous) : undefined;
  if (env[ENV.rank] !== undefined) {
    const names = { rank: ENV.rank, world: ENV.world, localRank: ENV.localRank };
    return checked(
      {
        launcher: "opendit",
        rank: wholeNumber(env, ENV.rank, 0),
        localRank: optionalWhole(env, ENV.localRank, 0, 0),
        world: wholeNumber(env, ENV.world, 1),
        ...(rendezvous ? { rendezvous } : {}),
        ...(env[ENV.job] ? { job: env[ENV.job]! } : {}),
        ...commonFields(env),
      },
      names,
    );
  }
  const foreign = (
    launcher: LauncherKind,
    names: { rank: string; world: string; localRank: string },
    localFallback: string | undefined,
    store: Address | undefined,
  ): RankEnvironment => {
    const localName = env[names.localRank] !== undefined ? names.localRank : localFallback;
    return checked(
      {
        launcher,
        rank: wholeNumber(env, names.rank, 0),
        world: wholeNumber(env, names.world, 1),
        localRank: localName !== undefined ? optionalWhole(env, localName, 0, 0) : 0,
        ...(store ? { rendezvous: store } : {}),
        ...commonFields(env),
      },
      names,
    );
  };
  if (env["RANK"] !== undefined && env["WORLD_SIZE"] !== undefined) {
    return foreign("torchrun", { rank: "RANK", world: "WORLD_SIZE", localRank: "LOCAL_RANK" }, undefined, rendezvous ?? masterAddress(env, true));
  }
  if (env["OMPI_COMM_WORLD_RANK"] !== undefined) {
    return foreign(
      "openmpi",
      { rank: "OMPI_COMM_WORLD_RANK", world: "OMPI_COMM_WORLD_SIZE", localRank: "OMPI_COMM_WORLD_LOCAL_RANK" },
      undefined,
      rendezvous ?? masterAddress(env, false),
    );
  }
  if (env["PMI_RANK"] !== undefined) {
    return foreign("pmi", { rank: "PMI_RANK", world: "PMI_SIZE", localRank: "MPI_LOCALRANKID" }, "PMI_LOCAL_RANK", rendezvous ?? masterAddress(env, false));
  }
  if (env["SLURM_PROCID"] !== undefined && env["SLURM_NTASKS"] !== undefined) {
    return foreign("slurm", { rank: "SLURM_PROCID", world: "SLURM_NTASKS", localRank: "SLURM_LOCALID" }, undefined, rendezvous ?? masterAddress(env, false));
  }
  return undefined;
}

/** What to set so the ranks find the store, for the error of a foreign launcher without one. */
export function missingRendezvous(e: RankEnvironment): string {
  const how =
    e.launcher === "torchrun"
      ? "torchrun sets MASTER_ADDR and MASTER_PORT (opendit's store listens on MASTER_PORT + 1)"
      : `set ${ENV.rendezvous}=host:port (global rank 0's host and a free port) or MASTER_ADDR and MASTER_PORT in every task's environment, or pass \`--rendezvous host:port\``;
  return `rank ${e.rank} of ${e.world} was started by ${e.launcher}, but nothing says where the rendezvous store is: ${how}`;
}

/** The error when the launcher's world is not the plan's. */
export function checkWorld(e: RankEnvironment, planWorld: number): void {
  if (e.world === planWorld) return;
  const source = { opendit: ENV.world, torchrun: "WORLD_SIZE", openmpi: "OMPI_COMM_WORLD_SIZE", pmi: "PMI_SIZE", slurm: "SLURM_NTASKS" }[e.launcher];
  throw new LaunchEnvError(
    `${e.launcher} started ${e.world} ${e.world === 1 ? "process" : "processes"} (${source}=${e.world}), but the plan runs on ${planWorld} ${planWorld === 1 ? "rank" : "ranks"}: ` +
      `start ${planWorld} or compile for ${e.world} (\`--world ${e.world}\` with a layout of ${e.world} ranks)`,
  );
}

/** The collective timeout from its variable (milliseconds), for the launcher's own default. */
export function collectiveTimeoutMs(env: Env): number {
  return optionalWhole(env, ENV.collectiveTimeout, 1, DEFAULT_COLLECTIVE_TIMEOUT_MS);
}

export function rendezvousTimeoutMs(env: Env): number {
  return optionalWhole(env, ENV.rendezvousTimeout, 1, DEFAULT_RENDEZVOUS_TIMEOUT_MS);
}

/**
 * The environment the launcher gives rank `rank`: the parent's, with the contract's variables set. For a CUDA
 * rank CUDA_VISIBLE_DEVICES is its one device: `devices[localRank]` (runtime.devices) or its local rank.
 */
export function rankProcessEnv(
  base: Env,
  fields: {
    readonly rank: number;
    readonly localRank: number;
    readonly world: number;
    readonly job: string;
    readonly rendezvous: Address;
    readonly errorFile: string;
    readonly collectiveTimeoutMs: number;
    readonly rendezvousTimeoutMs: number;
    readonly backend: "cpu" | "cuda";
    readonly devices?: readonly number[];
    readonly host?: string;
  },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out[k] = v;
  // A launcher's variables inherited from a foreign launcher would say another rank: ours are the only ones.
  for (const k of ["RANK", "LOCAL_RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"]) delete out[k];
  Object.assign(out, {
    [ENV.rank]: String(fields.rank),
    [ENV.localRank]: String(fields.localRank),
    [ENV.world]: String(fields.world),
    [ENV.job]: fields.job,
    [ENV.rendezvous]: formatAddress(fields.rendezvous),
    [ENV.errorFile]: fields.errorFile,
    [ENV.collectiveTimeout]: String(fields.collectiveTimeoutMs),
    [ENV.rendezvousTimeout]: String(fields.rendezvousTimeoutMs),
  });
  if (fields.host !== undefined) out[ENV.host] = fields.host;
  if (fields.backend === "cuda") out["CUDA_VISIBLE_DEVICES"] = String(fields.devices?.[fields.localRank] ?? fields.localRank);
  return out;
}
