/**
 * The rendezvous store: one TCP server (node:net) that the ranks of a run meet at, speaking JSON lines (one JSON
 * object per `\n`-terminated line, both ways). The host (the launcher of node 0, or global rank 0 under a foreign
 * launcher) listens; every rank connects, registers `{rank, host, port}` (its transport endpoint, from the addon's
 * openTransport) and, once all `world` ranks have registered, receives the peer table (indexed by global rank).
 * If they have not all registered within the timeout, the host fails with "rendezvous: ranks 2, 3 of 4 did not
 * join within 60 s" and tells the ranks that did join. After the peer table the same connection carries:
 *
 * - rank → host `progress` {rank, phase, step, steps, seconds} (the native run's progress events);
 * - rank → host `preview` {step, latent}: a representative rank's latent after a step to preview (WireTensor;
 *   runtime/launch/previews.ts);
 * - rank → host `done` {rank, report}: the rank's timings; from a representative rank, its outputs (Float32 data
 *   as base64: latents are small); from a rank that returns a VAE decode, its video as 8-bit RGB (base64; 80
 *   frames of 512x512 are 63 MB so, not 250 MB as fp32). The host answers `ack`, so a rank exits only after its
 *   report is in;
 * - rank → host `failed` {rank, message}: the host broadcasts `abort` {rank, message} to every rank;
 * - host → rank `abort` {rank?, message}: stop now (another rank failed, the store timed out, the launcher stops).
 *
 * A rank whose connection closes before its `done` is a failure of that rank ("lost its connection"). Lines are
 * read in time linear in their length (jsonLineReader): a report with a video is one line of tens of MB.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { RgbVideo } from "../media/frames.js";
import type { NativeProgress } from "../native/addon.js";
import { formatAddress, type Address } from "./env.js";

/** A rank's transport endpoint, as it registers it. */
export interface Registration {
  readonly rank: number;
  readonly host: string;
  readonly port: number;
}

/** An output tensor on the wire. */
export interface WireTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Float32 little-endian bytes, base64. */
  readonly data: string;
}

/**
 * A decoding rank's VAE decode on the wire: the samples of its dp coordinate as 8-bit RGB (runtime/media/
 * run-media.ts decodedRgbVideos), which the launcher puts together in dp order (runtime/launch/assemble.ts).
 */
export interface WireVideo {
  /** The dp coordinate whose samples these are. */
  readonly dp: number;
  /** The run's index of the first of them: dp · plan.decode.samples. */
  readonly firstSample: number;
  /** [samples, frames, height, width, 3]. */
  readonly shape: readonly number[];
  /** Each sample is one picture (an image family). */
  readonly image: boolean;
  /** The RGB bytes, sample after sample, frame after frame, rows from the top, R, G, B interleaved; base64. */
  readonly data: string;
}

/** What a rank reports when its run has finished. */
export interface RankReport {
  readonly rank: number;
  /** Representative ranks only (runtime/launch/assemble.ts): the plan's outputs. */
  readonly outputs?: readonly WireTensor[];
  /** The rank whose native run returned the VAE's `video` only (plan.decode: runtime/launch/assemble.ts). */
  readonly video?: WireVideo;
  readonly timings: {
    readonly load: number;
    readonly bind: number;
    readonly inputs: number;
    readonly setup: number;
    readonly steps: number;
    readonly outputs: number;
    /** The VAE decode's seconds (0 on a rank that does not decode; absent from an addon without a decode). */
    readonly decode?: number;
    readonly perStep: readonly number[];
  };
  readonly threads: number;
  readonly arenaBytes: number;
  readonly weightBytes: number;
  /** The node's hostname (for run.json). */
  readonly hostname: string;
  /** Seconds from the rank's start to its report. */
  readonly seconds: number;
}

/** A failure the store knows of: a rank's own report, a lost connection, or the rendezvous timing out (no rank). */
export interface StoreFailure {
  readonly rank?: number;
  readonly message: string;
  /** Milliseconds since the epoch when the host learned of it. */
  readonly time: number;
  /** `reported`: the rank said so itself; `disconnected`: its connection closed first; `timeout`: the rendezvous. */
  readonly kind: "reported" | "disconnected" | "timeout" | "protocol";
}

export function encodeTensor(name: string, shape: readonly number[], data: Float32Array): WireTensor {
  return { name, shape: [...shape], data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") };
}

export function decodeTensor(t: WireTensor): { name: string; shape: readonly number[]; data: Float32Array } {
  const bytes = Buffer.from(t.data, "base64");
  const data = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(data.buffer).set(bytes);
  return { name: t.name, shape: t.shape, data };
}

/** The decoded samples of one dp coordinate as a WireVideo; every sample must have the same size and frames. */
export function encodeVideo(dp: number, firstSample: number, videos: readonly RgbVideo[]): WireVideo {
  const first = videos[0];
  if (!first) throw new RangeError("a decoded video on the wire holds at least one sample");
  const frameBytes = first.width * first.height * 3;
  const frames: Uint8Array[] = [];
  for (const v of videos) {
    if (v.width !== first.width || v.height !== first.height || v.frames.length !== first.frames.length || v.image !== first.image) {
      throw new RangeError(`the decoded samples differ in size: ${v.frames.length} frames of ${v.width}x${v.height} beside ${first.frames.length} of ${first.width}x${first.height}`);
    }
    for (const f of v.frames) {
      if (f.length !== frameBytes) throw new RangeError(`a decoded frame of ${first.width}x${first.height} RGB is ${frameBytes} bytes, not ${f.length}`);
      frames.push(f);
    }
  }
  return {
    dp,
    firstSample,
    shape: [videos.length, first.frames.length, first.height, first.width, 3],
    image: first.image,
    data: Buffer.concat(frames).toString("base64"),
  };
}

/** The samples of a WireVideo; throws when its bytes are not its shape's. */
export function decodeVideo(w: WireVideo): RgbVideo[] {
  const [samples, frames, height, width, channels] = w.shape;
  if (w.shape.length !== 5 || channels !== 3 || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw new RangeError(`a decoded video on the wire is [samples, frames, height, width, 3], not [${w.shape.join(", ")}]`);
  }
  const bytes = Buffer.from(w.data, "base64");
  const frameBytes = height! * width! * 3;
  if (bytes.length !== samples! * frames! * frameBytes) {
    throw new RangeError(`a decoded video [${w.shape.join(", ")}] is ${samples! * frames! * frameBytes} bytes, but ${bytes.length} came`);
  }
  return Array.from({ length: samples! }, (_, s) => ({
    frames: Array.from({ length: frames! }, (_, f) => {
      const at = (s * frames! + f) * frameBytes;
      return new Uint8Array(bytes.buffer, bytes.byteOffset + at, frameBytes);
    }),
    width: width!,
    height: height!,
    image: w.image,
  }));
}

/** `60 s`, `1.5 s`, `250 ms`. */
export function formatTimeout(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}

/** `2`, `2, 3`. */
function rankList(ranks: readonly number[]): string {
  return ranks.join(", ");
}

const NEWLINE = 0x0a;

/**
 * A reader of JSON lines from a byte stream: feed it the chunks as they come; each complete line that is a JSON
 * object goes to `onMessage`, any other non-blank line to `onBad`. Linear in the bytes however long a line is (a
 * report with a video is one line of tens of MB): the chunks of an unfinished line are kept as they came, only
 * each new chunk is searched for `\n`, and a line is joined and decoded from UTF-8 once, when it is complete (a
 * `\n` byte is never part of a multi-byte character, so a character split over chunks decodes whole).
 */
export function jsonLineReader(onMessage: (message: Record<string, unknown>) => void, onBad: (line: string) => void): (chunk: Uint8Array) => void {
  let pending: Uint8Array[] = [];
  const handle = (line: string): void => {
    if (line.trim() === "") return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      onBad(line);
      return;
    }
    if (message !== null && typeof message === "object") onMessage(message as Record<string, unknown>);
    else onBad(line);
  };
  return (chunk) => {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(NEWLINE, start)) >= 0) {
      const tail = chunk.subarray(start, nl);
      const bytes = pending.length === 0 ? tail : Buffer.concat([...pending, tail]);
      pending = [];
      start = nl + 1;
      handle(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  };
}

/** Reads JSON lines from a socket (jsonLineReader). */
function onLines(socket: Socket, onMessage: (message: Record<string, unknown>) => void, onBad: (line: string) => void): void {
  socket.on("data", jsonLineReader(onMessage, onBad));
}

function send(socket: Socket, message: object): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(message)}\n`);
}

export interface StoreHostOptions {
  readonly world: number;
  /** Milliseconds every rank has to register (default 60000). */
  readonly timeoutMs?: number;
  readonly onRegistered?: (registration: Registration) => void;
  /** After the peer table went out. */
  readonly onAllJoined?: (peers: readonly Registration[]) => void;
  readonly onProgress?: (rank: number, progress: NativeProgress) => void;
  /** A rank's latent after `step` steps, for the previews during the run (runtime/launch/previews.ts). */
  readonly onPreview?: (rank: number, step: number, latent: WireTensor) => void;
  readonly onReport?: (report: RankReport) => void;
  /** Every failure, the first one first; the host has already broadcast the abort. */
  readonly onFailure?: (failure: StoreFailure) => void;
}

/** The listening side of the rendezvous. */
export interface StoreHost {
  /** The port it listens on (the one asked for, or the one the system gave for port 0). */
  readonly port: number;
  /** Resolves with every rank's report once all `world` ranks reported; rejects with the first failure. */
  readonly reports: Promise<readonly RankReport[]>;
  /** Tells every connected rank to stop (the launcher stops the run). */
  abort(message: string, rank?: number): void;
  close(): Promise<void>;
}

/**
 * Starts the store on `address` (host "0.0.0.0" or "::" listens on every interface; port 0 takes a free one).
 * Rejects when it cannot listen (the port is taken).
 */
export async function hostStore(address: Address, options: StoreHostOptions): Promise<StoreHost> {
  const { world } = options;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const registrations = new Map<number, Registration>();
  const sockets = new Map<number, Socket>();
  const reports = new Map<number, RankReport>();
  const all = new Set<Socket>();
  let joined = false;
  let failed: StoreFailure | undefined;
  let closed = false;
  let resolveReports!: (r: readonly RankReport[]) => void;
  let rejectReports!: (e: Error) => void;
  const reportsPromise = new Promise<readonly RankReport[]>((res, rej) => {
    resolveReports = res;
    rejectReports = rej;
  });
  reportsPromise.catch(() => undefined);

  const broadcast = (message: object): void => {
    for (const s of all) send(s, message);
  };
  const fail = (failure: Omit<StoreFailure, "time">): void => {
    const full: StoreFailure = { ...failure, time: Date.now() };
    const first = failed === undefined;
    if (first) {
      failed = full;
      clearTimeout(timer);
      broadcast({ type: "abort", ...(full.rank !== undefined ? { rank: full.rank } : {}), message: full.message });
      rejectReports(Object.assign(new Error(full.message), { failure: full }));
    }
    options.onFailure?.(full);
  };

  const timer = setTimeout(() => {
    if (joined || failed) return;
    const missing = Array.from({ length: world }, (_, r) => r).filter((r) => !registrations.has(r));
    fail({ kind: "timeout", message: `rendezvous: ${missing.length === 1 ? "rank" : "ranks"} ${rankList(missing)} of ${world} did not join within ${formatTimeout(timeoutMs)}` });
  }, timeoutMs);
  timer.unref();

  const server: Server = createServer((socket) => {
    all.add(socket);
    let rank: number | undefined;
    socket.on("error", () => undefined);
    socket.on("close", () => {
      all.delete(socket);
      if (closed || rank === undefined || reports.has(rank) || failed) return;
      fail({ kind: "disconnected", rank, message: `rank ${rank} lost its connection to the rendezvous store before it finished` });
    });
    if (failed) send(socket, { type: "abort", ...(failed.rank !== undefined ? { rank: failed.rank } : {}), message: failed.message });
    onLines(
      socket,
      (m) => {
        switch (m["type"]) {
          case "register": {
            const r = m["rank"];
            const host = m["host"];
            const port = m["port"];
            if (typeof r !== "number" || !Number.isSafeInteger(r) || r < 0 || r >= world || typeof host !== "string" || typeof port !== "number") {
              fail({ kind: "protocol", message: `rendezvous: a process registered as rank ${String(r)}, which is not a rank of a world of ${world}` });
              return;
            }
            if (registrations.has(r)) {
              fail({ kind: "protocol", rank: r, message: `rendezvous: two processes registered as rank ${r}; each rank must be started once (check the launcher's rank variables)` });
              return;
            }
            rank = r;
            registrations.set(r, { rank: r, host, port });
            sockets.set(r, socket);
            options.onRegistered?.({ rank: r, host, port });
            if (registrations.size === world && !failed) {
              joined = true;
              clearTimeout(timer);
              const peers = Array.from({ length: world }, (_, i) => registrations.get(i)!);
              for (const s of sockets.values()) send(s, { type: "peers", peers: peers.map((p) => ({ host: p.host, port: p.port })) });
              options.onAllJoined?.(peers);
            }
            return;
          }
          case "progress":
            if (rank !== undefined) options.onProgress?.(rank, m["progress"] as NativeProgress);
            return;
          case "preview":
            if (rank !== undefined && typeof m["step"] === "number") options.onPreview?.(rank, m["step"], m["latent"] as WireTensor);
            return;
          case "done": {
            if (rank === undefined) return;
            const report = m["report"] as RankReport;
            reports.set(rank, { ...report, rank });
            send(socket, { type: "ack" });
            options.onReport?.({ ...report, rank });
            if (reports.size === world && !failed) resolveReports(Array.from({ length: world }, (_, i) => reports.get(i)!));
            return;
          }
          case "failed": {
            const r = typeof m["rank"] === "number" ? (m["rank"] as number) : rank;
            fail({ kind: "reported", ...(r !== undefined ? { rank: r } : {}), message: String(m["message"]) });
            send(socket, { type: "ack" });
            return;
          }
          default:
            return;
        }
      },
      () => undefined,
    );
  });

  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", rej);
      res();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    const why = error.code === "EADDRINUSE" ? "the port is in use" : error.message;
    throw new Error(`rendezvous: cannot listen on ${formatAddress(address)}: ${why}`);
  });
  const bound = server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : address.port;

  return {
    port,
    reports: reportsPromise,
    abort(message: string, rank?: number) {
      if (failed) {
        broadcast({ type: "abort", message });
        return;
      }
      fail({ kind: "reported", ...(rank !== undefined ? { rank } : {}), message });
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      for (const s of all) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

/** The rank's side of the rendezvous, after the peer table arrived. */
export interface StoreClient {
  /** Every rank's transport endpoint, by global rank. */
  readonly peers: readonly { readonly host: string; readonly port: number }[];
  progress(progress: NativeProgress): void;
  /** Sends the latent after `step` steps for the previews (runtime/launch/previews.ts). */
  preview(step: number, latent: WireTensor): void;
  /**
   * Sends the final report and waits for the host's acknowledgement (default: 30 s, plus 1 s per 4 MB of the
   * report, for a video over a slow link).
   */
  done(report: RankReport, timeoutMs?: number): Promise<void>;
  /** Reports this rank's failure (the host aborts every rank) and waits briefly for the acknowledgement. */
  fail(message: string, timeoutMs?: number): Promise<void>;
  /** Called once when the host says to stop (another rank failed, or the launcher stops). */
  onAbort(listener: (message: string, rank?: number) => void): void;
  close(): void;
}

/** The error when the host aborted the rendezvous (or a run) before this rank got its peers. */
export class RendezvousError extends Error {
  override readonly name = "RendezvousError";
  constructor(
    message: string,
    /** Whether the host told us so (a failure elsewhere), rather than our own timeout or connection problem. */
    readonly fromHost: boolean,
  ) {
    super(message);
  }
}

function connectOnce(address: Address): Promise<Socket> {
  return new Promise((res, rej) => {
    const socket = createConnection({ host: address.host, port: address.port });
    socket.once("connect", () => {
      socket.off("error", rej);
      res(socket);
    });
    socket.once("error", rej);
  });
}

/**
 * Connects to the store at `address` (retrying while nothing listens there yet: under a foreign launcher rank 0
 * may start last), registers, and resolves once the peer table arrives. Rejects with a RendezvousError when the
 * host aborts, the connection closes, or `timeoutMs` passes first.
 */
export async function joinRendezvous(address: Address, registration: Registration, timeoutMs: number): Promise<StoreClient> {
  const deadline = Date.now() + timeoutMs;
  let socket: Socket | undefined;
  let lastError = "";
  while (!socket) {
    try {
      socket = await connectOnce(address);
    } catch (error) {
      lastError = (error as Error).message;
      if (Date.now() >= deadline) {
        throw new RendezvousError(`rendezvous: rank ${registration.rank} could not reach the store at ${formatAddress(address)} within ${formatTimeout(timeoutMs)} (${lastError})`, false);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const s = socket;
  s.setNoDelay(true);
  s.on("error", () => undefined);
  let abortListener: ((message: string, rank?: number) => void) | undefined;
  let aborted: { message: string; rank?: number } | undefined;
  let ackWaiter: (() => void) | undefined;
  let closedByUs = false;

  const peers = await new Promise<{ host: string; port: number }[]>((res, rej) => {
    let got = false;
    const timer = setTimeout(() => {
      if (!got) rej(new RendezvousError(`rendezvous: rank ${registration.rank} got no peer table from ${formatAddress(address)} within ${formatTimeout(timeoutMs)}`, false));
    }, Math.max(1, deadline - Date.now()));
    onLines(
      s,
      (m) => {
        if (m["type"] === "peers" && !got) {
          got = true;
          clearTimeout(timer);
          res(m["peers"] as { host: string; port: number }[]);
        } else if (m["type"] === "abort") {
          const info = { message: String(m["message"]), ...(typeof m["rank"] === "number" ? { rank: m["rank"] as number } : {}) };
          if (!got) {
            got = true;
            clearTimeout(timer);
            rej(new RendezvousError(info.message, true));
          }
          if (!aborted) {
            aborted = info;
            abortListener?.(info.message, info.rank);
          }
        } else if (m["type"] === "ack") {
          ackWaiter?.();
        }
      },
      () => undefined,
    );
    s.on("close", () => {
      if (!got) {
        got = true;
        clearTimeout(timer);
        rej(new RendezvousError(`rendezvous: the store at ${formatAddress(address)} closed the connection before every rank joined`, true));
      } else if (!closedByUs && !aborted) {
        aborted = { message: `the rendezvous store at ${formatAddress(address)} went away` };
        abortListener?.(aborted.message);
      }
    });
    send(s, { type: "register", rank: registration.rank, host: registration.host, port: registration.port });
  }).catch((error: unknown) => {
    s.destroy();
    throw error;
  });

  const waitAck = (ms: number): Promise<void> =>
    new Promise((res) => {
      const timer = setTimeout(res, ms);
      ackWaiter = () => {
        clearTimeout(timer);
        res();
      };
      s.once("close", () => {
        clearTimeout(timer);
        res();
      });
    });

  return {
    peers,
    progress(progress) {
      send(s, { type: "progress", progress });
    },
    preview(step, latent) {
      send(s, { type: "preview", step, latent });
    },
    async done(report, ms) {
      const line = `${JSON.stringify({ type: "done", report })}\n`;
      const acked = waitAck(ms ?? 30_000 + Math.ceil(line.length / 4_000_000) * 1000);
      if (!s.destroyed && s.writable) s.write(line);
      await acked;
    },
    async fail(message, ms = 2_000) {
      const acked = waitAck(ms);
      send(s, { type: "failed", rank: registration.rank, message });
      await acked;
    },
    onAbort(listener) {
      abortListener = listener;
      if (aborted) listener(aborted.message, aborted.rank);
    },
    close() {
      closedByUs = true;
      s.end();
      s.destroy();
    },
  };
}

/**
 * Reports a failure of `rank` to the store without joining (a rank that failed before the rendezvous: a bad
 * input file, no transport), so the host aborts the others at once instead of waiting for the timeout. Best effort.
 */
export async function reportFailure(address: Address, rank: number, message: string, timeoutMs = 2_000): Promise<void> {
  const socket = await Promise.race([connectOnce(address), new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]).catch(() => undefined);
  if (!socket) return;
  socket.on("error", () => undefined);
  await new Promise<void>((res) => {
    const timer = setTimeout(res, timeoutMs);
    onLines(
      socket,
      (m) => {
        if (m["type"] === "ack") {
          clearTimeout(timer);
          res();
        }
      },
      () => undefined,
    );
    socket.once("close", () => {
      clearTimeout(timer);
      res();
    });
    send(socket, { type: "failed", rank, message });
  });
  socket.destroy();
}
