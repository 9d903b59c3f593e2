/**
 * The native addon's interface (native/src/addon/addon.cpp) and its loader. The addon is built by `npm install`
 * (cmake-js, package.json "build:native") into build/native/Release/opendit.node; this file is the only place
 * that loads it, so every other module sees typed functions and a clear error when the build is missing.
 *
 * Contract:
 * - `info()` says which backends the build has (the CUDA backend with the configure step's reason when not).
 * - `run(request, onProgress)` runs a plan on one rank on a native thread, never the JS main thread; progress
 *   events arrive on the main thread through a thread-safe function; the promise resolves with the outputs or
 *   rejects with an Error carrying the native message (the op, step, tensor or file it is about).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeInfo {
  /** The package version the addon was built from. */
  readonly version: string;
  readonly backends: {
    readonly cpu: { readonly built: true; readonly threads: number; readonly compiler: string };
    readonly cuda: {
      readonly built: boolean;
      readonly reason: string;
      /**
       * NCCL, which multi-rank CUDA runs exchange their data over (native/src/cuda/nccl.h): built only with the CUDA
       * backend; `reason` the configure step's words ("NCCL 2.21.5, /usr/lib/…/libnccl.so", or why not). Every
       * build of this addon reports it; an older one did not.
       */
      readonly nccl?: { readonly built: boolean; readonly reason: string };
    };
  };
}

/** Where the weights come from: seeded random (checkpoint/README.md) or a safetensors file. */
export type NativeWeights =
  | { readonly kind: "random"; readonly seed: number }
  /** `ignore`: tensors in the file the plan does not read that are not an error (the family's skipped ones). */
  | { readonly kind: "file"; readonly path: string; readonly ignore: readonly string[] };

/** The run's inputs, sample by sample for the whole run (runtime/reference/inputs.ts has the same meaning). */
export interface NativeInputs {
  /** The initial latent [samples, C, T, H, W]; without it the noise is drawn from `noiseSeed`. */
  readonly noise?: Float32Array;
  /** Seed of the initial noise: sample g is the normals of key(seed, "latent/<g>") (runtime/README.md). */
  readonly noiseSeed?: number;
  readonly text?: Float32Array;
  readonly negativeText?: Float32Array;
  readonly textMask?: Float32Array;
  readonly labels?: Int32Array;
  /** A fixed model timestep instead of the step table's: one for every row, or one per row. */
  readonly timestep?: number | Float64Array;
}

export interface NativeRunRequest {
  /** The plan's JSON text (compiler/plan/serialize.ts). */
  readonly plan: string;
  readonly weights: NativeWeights;
  readonly inputs: NativeInputs;
  /** Which rank of the plan's mesh this is (default 0). */
  readonly rank?: number;
  /** Run only the first N steps (default all). */
  readonly steps?: number;
  /** CPU threads (default: all cores, or OPENDIT_CPU_THREADS). */
  readonly threads?: number;
  /**
   * Which backend runs the ops (default "cpu"). "cuda" rejects with the configure step's reason in a build without
   * it (`info().backends.cuda`), and a plan whose collectives exchange data between ranks in a build without NCCL
   * (`info().backends.cuda.nccl`); with NCCL, every rank of such a plan runs with `transport` (it bootstraps NCCL).
   */
  readonly backend?: "cpu" | "cuda";
  /** The CUDA device index, as the process sees it (after CUDA_VISIBLE_DEVICES; default 0). */
  readonly device?: number;
  /**
   * Copy `buffer` after step-program op `op` on every step it runs (returned in `captures`, step after step); with
   * `program: "decode"`, after plan.decode.program's op `op` on every decode pass of this rank (pass after pass,
   * sample by sample; empty on a rank that does not decode).
   */
  readonly captures?: readonly { readonly op: number; readonly buffer: string; readonly program?: "step" | "decode" }[];
  /**
   * Run plan.decode after the steps (default true): on the ranks of plan.decode.ranks the DiT's memory is released
   * and the VAE decodes the final latent into the `video` output [samples, 3, frames, H, W] (an image: frames 1).
   * false: latents only.
   */
  readonly decode?: boolean;
  /**
   * The VAE's weights (a file in diffusers or original LDM naming; its tensors the decoder does not read, the
   * encoder's, are ignored). Absent: plan.decode.checkpoint as written (`random`: its weightsSeed; else a path,
   * read relative to the process's working directory, so callers pass the path resolved).
   */
  readonly decodeWeights?: NativeWeights;
  /**
   * A multi-rank run: the CPU transport opened by `openTransport` in this process, connected to every rank's
   * published endpoint (indexed by global rank, this rank's own included) before the plan runs. `timeoutMs` bounds
   * the connection and every collective wait; a wait past it fails the run naming the rank, the peer and the op. On
   * CUDA it also bounds NCCL's set-up and every wait on the GPU's NCCL work (past it the communicators are aborted).
   */
  readonly transport?: NativeTransportRequest;
  /**
   * After every N-th step (steps N, 2N, … of those run; N at least 1), the step's progress event carries the output
   * `latents` as it is then (`NativeProgress.latent`): copied between steps (after the step's synchronisation, never
   * inside a step or a CUDA graph), into host memory allocated before the step loop. Needs `onProgress`; rejects on
   * a rank that does not hold the output (another PipeFusion stage than the output's).
   */
  readonly previewEvery?: number;
}

export interface NativeTransportRequest {
  readonly peers: readonly { readonly host: string; readonly port: number }[];
  readonly timeoutMs: number;
}

export interface NativeProgress {
  readonly phase: "load" | "setup" | "step" | "decode" | "done";
  /** Steps finished (decode: passes finished). */
  readonly step: number;
  /** Steps to run (decode: passes to run, samples × plan.decode.passes). */
  readonly steps: number;
  /** Seconds since the run began. */
  readonly seconds: number;
  /**
   * A run with `previewEvery`: on the step events after every N-th step, the output `latents` then, as `run()` would
   * return it at that point (the plan buffer's shape, [samples, C, T, H, W] of this rank's samples; fp32).
   */
  readonly latent?: NativeLatent;
}

/** The running latent of a step event (NativeProgress.latent). */
export interface NativeLatent {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface NativeTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Seconds of each phase of a native run, in the order they run. */
export interface NativePhaseSeconds {
  readonly load: number;
  readonly bind: number;
  readonly inputs: number;
  readonly setup: number;
  readonly steps: number;
  readonly outputs: number;
  /** The VAE decode (every addon run sets it: 0 without a decode). */
  readonly decode?: number;
}

export interface NativeRunResult {
  /**
   * The plan's outputs of this rank (`latents`), then, on a rank that returns a decode, `video`
   * [samples, 3, frames, H, W] fp32, pixels about [-1, 1] (images: frames 1).
   */
  readonly outputs: readonly NativeTensor[];
  readonly captures: readonly Float32Array[];
  /** Seconds per phase; `perStep` one entry per step run. */
  readonly timings: NativePhaseSeconds & { readonly perStep: readonly number[] };
  readonly arenaBytes: number;
  readonly weightBytes: number;
  readonly threads: number;
  /** The backend that ran the ops. */
  readonly backend: string;
  /** Device memory the backend held: arena, weights and workspaces (0 on the CPU). */
  readonly deviceBytes: number;
  /**
   * Sites of the rank's step program the backend ran fused (all 0 on the CPU and with OPENDIT_CUDA_FUSE=0):
   * `gemmResidual`, linear (→ gate) → add chains whose residual add ran in the linear's GEMM epilogue; `gatedAdd`,
   * gates run inside the add consuming them. Every addon run sets it; results assembled elsewhere may lack it.
   */
  readonly fusions?: { readonly gemmResidual: number; readonly gatedAdd: number };
  /**
   * Communication the backend overlapped with compute (0 on the CPU, on one rank and with OPENDIT_CUDA_OVERLAP=0):
   * `spans`, the all-to-alls of the rank's step program that ran chunked by sample with the ops up to the next
   * all-to-all on their axis (native/src/cuda/overlap.h), each counted once. Every addon run sets it; results
   * assembled elsewhere may lack it.
   */
  readonly overlap?: { readonly spans: number };
}

export interface NativeAddon {
  info(): NativeInfo;
  run(request: NativeRunRequest, onProgress?: (progress: NativeProgress) => void): Promise<NativeRunResult>;
  /**
   * Opens this process's CPU transport endpoint (one per process): a listening socket on `host` (`port` 0 or absent:
   * any free port). Returns the port to publish at the rendezvous. A later `run` with `transport` connects it.
   */
  openTransport(options: { readonly rank: number; readonly world: number; readonly host: string; readonly port?: number }): { readonly port: number };
  /**
   * Measures the CPU transport: connects it like `run` does, then times `iterations` all-to-alls over all ranks of
   * `bytes` bytes per rank (each rank sends bytes / world to every other) after `warmup` untimed ones. Resolves with
   * the seconds of each timed iteration on this rank.
   */
  benchTransport(request: {
    readonly transport: NativeTransportRequest;
    readonly bytes: number;
    readonly iterations: number;
    readonly warmup: number;
  }): Promise<{ readonly seconds: readonly number[] }>;
}

/** The addon could not be loaded: not built, or built for another Node. */
export class NativeUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NativeUnavailableError";
  }
}

const here = dirname(fileURLToPath(import.meta.url));

/** The package root: two levels above this file in the sources (runtime/native) and in dist/ (dist/runtime/native). */
function packageRoot(): string {
  for (const up of ["../..", "../../.."]) {
    const root = join(here, up);
    if (existsSync(join(root, "package.json")) && existsSync(join(root, "native"))) return root;
  }
  return join(here, "../..");
}

/** The path of the built addon. */
export function addonPath(): string {
  return join(packageRoot(), "build", "native", "Release", "opendit.node");
}

let loaded: NativeAddon | undefined;

/** Loads the addon once; throws NativeUnavailableError with what to do when it is not built. */
export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new NativeUnavailableError(
      `the native runtime is not built (${path} is missing): run \`npm install\` (or \`npm run build:native\`) in the opendit package, which builds it with cmake-js`,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new NativeUnavailableError(`the native runtime at ${path} could not be loaded (${why}): rebuild it with \`npm run build:native\``);
  }
  return loaded;
}
