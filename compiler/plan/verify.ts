/**
 * A plan's own consistency, checked from the plan alone (as the native runtime would before its step loop):
 * every name an op reads exists and holds a value by then, every size an op carries agrees with its buffers
 * (ops.ts), every collective and shard has its group in the mesh, the arena holds every buffer without two
 * live ones overlapping, the PAB caches sit where skipped ops hand values to ops that always run, the step
 * and pattern tables agree, and the hash is the hash of the rest. Problems are sentences naming the op and
 * the buffer; an empty list means the plan is sound as far as its own data can tell.
 */
import type { GroupAxis } from "../lower/mesh.js";
import { bufferBytes } from "./memory.js";
import { opBuffers, type OpBuffers } from "./op-buffers.js";
import type { ModRef, Op, PaddedTokens } from "./ops.js";
import { canonicalJson, sha256 } from "./serialize.js";
import { stagesMeet, widenTransferSpans } from "./stage-sets.js";
import { transferProblems } from "./transfer-match.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan, type PlanBuffer, type PlanDecode, type PlanDtype, type PlanWeight, type Shard } from "./types.js";

type ProgramName = "setup" | "step" | "decode";

/** The ops only the VAE decode has (plan.decode.program). */
const DECODE_OPS: ReadonlySet<string> = new Set(["conv2d", "group_norm", "upsample_nearest"]);

interface Named {
  readonly shape: readonly number[];
  readonly dtype: PlanDtype;
  /** A buffer's role; undefined for a weight. */
  readonly buffer?: PlanBuffer;
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** `step op 41 (self_attention, spatial block 3)`. */
function label(program: ProgramName, op: Op): string {
  const where = op.block === undefined ? "" : `, ${op.blockKind ? `${op.blockKind} ` : ""}block ${op.block}`;
  return `${program} op ${op.id} (${op.op}${where})`;
}

/** The unit of skipping an op belongs to: ops of one unit are skipped together, or not at all. */
function skipUnit(op: Op): string | undefined {
  if (op.pab) return `${op.pab} attention broadcast`;
  if (op.mlp) return `the MLP broadcast of ${op.blockKind ?? "spatial"} block ${op.block ?? "?"}`;
  return undefined;
}

/**
 * The checks of one scope of a plan: `plan`, the denoising programs with the plan's weights, buffers and arena;
 * `decode`, plan.decode's program over its own weights, buffers and arena (the runtime gives the decode a fresh
 * memory of its own).
 */
class PlanVerifier {
  readonly problems: string[] = [];
  private readonly names = new Map<string, Named>();
  private readonly degrees = new Map<string, number>();
  private readonly weights: readonly PlanWeight[];
  private readonly buffers: readonly PlanBuffer[];
  private readonly arenaBytes: number;
  /** The program whose liveness the arena follows. */
  private readonly spanned: readonly Op[];

  constructor(
    private readonly plan: Plan,
    private readonly scope: "plan" | "decode" = "plan",
  ) {
    for (const a of plan.mesh.axes) this.degrees.set(a.name, a.degree);
    const decode = plan.decode;
    if (scope === "decode" && !decode) throw new Error("a decode scope needs plan.decode");
    this.weights = scope === "decode" ? decode!.weights : plan.weights;
    this.buffers = scope === "decode" ? decode!.buffers : plan.buffers;
    this.arenaBytes = scope === "decode" ? decode!.arenaBytes : plan.arenaBytes;
    this.spanned = scope === "decode" ? decode!.program : plan.program.step;
  }

  private problem(text: string): void {
    this.problems.push(text);
  }

  run(): string[] {
    if (this.scope === "decode") {
      this.declarations();
      this.arena();
      this.decodeProgram();
      this.decodeTable();
      return this.problems;
    }
    this.header();
    this.declarations();
    this.mesh();
    this.arena();
    this.inputsAndOutputs();
    this.programs();
    this.stepTables();
    this.paddingTable();
    // PipeFusion: every send meets a receive of the same size (plan/transfer-match.ts).
    for (const p of transferProblems(this.plan)) this.problem(p);
    return this.problems;
  }

  private header(): void {
    const { hash, ...rest } = this.plan;
    if (this.plan.format !== PLAN_FORMAT) this.problem(`format is ${JSON.stringify(this.plan.format)}, not "${PLAN_FORMAT}"`);
    if (this.plan.version !== PLAN_VERSION) this.problem(`version is ${this.plan.version}, not ${PLAN_VERSION}`);
    const want = sha256(canonicalJson(rest));
    if (hash !== want) this.problem(`hash ${hash} is not the sha256 of the canonical JSON of the rest of the plan (${want})`);
  }

  private declarations(): void {
    for (const w of this.weights) {
      if (this.names.has(w.name)) this.problem(`weight \`${w.name}\` is declared twice`);
      this.names.set(w.name, { shape: w.shape, dtype: w.dtype });
    }
    for (const b of this.buffers) {
      const old = this.names.get(b.name);
      if (old) this.problem(`buffer \`${b.name}\` is declared twice${old.buffer ? "" : " (also as a weight)"}`);
      this.names.set(b.name, { shape: b.shape, dtype: b.dtype, buffer: b });
    }
  }

  /** The ranks in one group of `axis`: the axis degree, or the product of the sequence axes. */
  private degreeOf(axis: GroupAxis): number {
    if (axis === "decode") return this.plan.decode?.split.kind === "patch" ? this.plan.decode.split.parts : 1;
    if (axis === "sequence") return (this.degrees.get("dsp") ?? 1) * (this.degrees.get("ulysses") ?? 1) * (this.degrees.get("ring") ?? 1);
    return this.degrees.get(axis) ?? 1;
  }

  private mesh(): void {
    const { mesh } = this.plan;
    const world = product(mesh.axes.map((a) => a.degree));
    if (mesh.world !== world) this.problem(`mesh world ${mesh.world} is not the product of the axis degrees (${world})`);
    if (mesh.ranks.length !== mesh.world) this.problem(`mesh lists ${mesh.ranks.length} ranks for a world of ${mesh.world}`);
    mesh.ranks.forEach((r, i) => {
      if (r.rank !== i) this.problem(`mesh rank entry ${i} is rank ${r.rank}`);
    });
    const expected = new Set<string>(mesh.axes.filter((a) => a.degree > 1).map((a) => a.name));
    if (this.degreeOf("ulysses") > 1 && this.degreeOf("ring") > 1) expected.add("sequence");
    if (this.degreeOf("decode") > 1) expected.add("decode");
    for (const key of expected) if (!mesh.groups[key as GroupAxis]) this.problem(`mesh has no groups for ${key}, whose degree is above 1`);
    for (const [key, groups] of Object.entries(mesh.groups) as [GroupAxis, readonly (readonly number[])[]][]) {
      if (!expected.has(key)) this.problem(`mesh has groups for ${key}, which needs no communicator`);
      const seen = new Set<number>();
      for (const g of groups) {
        if (g.length !== this.degreeOf(key)) this.problem(`mesh group [${g.join(", ")}] of ${key} has ${g.length} ranks, not ${this.degreeOf(key)}`);
        for (const r of g) {
          if (seen.has(r) || r < 0 || r >= mesh.world) this.problem(`mesh groups of ${key} hold rank ${r} twice or outside the world`);
          seen.add(r);
        }
      }
      if (seen.size !== mesh.world) this.problem(`mesh groups of ${key} cover ${seen.size} of ${mesh.world} ranks`);
    }
  }

  /** Step-program op ids that name each buffer (first and last), the liveness the arena must respect. */
  private stepSpans(): Map<string, [number, number]> {
    const spans = new Map<string, [number, number]>();
    for (const op of this.spanned) {
      const io = opBuffers(op) as OpBuffers | undefined;
      if (!io) continue;
      for (const name of [...io.reads, ...io.writes]) {
        const span = spans.get(name);
        if (span) span[1] = op.id;
        else spans.set(name, [op.id, op.id]);
      }
    }
    // Pre-posted receives and asynchronous sends hold their buffers for their whole phase.
    widenTransferSpans(this.spanned, spans);
    return spans;
  }

  private arena(): void {
    const spans = this.stepSpans();
    const placed: { b: PlanBuffer; span: readonly [number, number] | undefined }[] = [];
    for (const b of this.buffers) {
      const bytes = bufferBytes(b);
      if (b.bytes !== bytes) this.problem(`buffer \`${b.name}\` says ${b.bytes} bytes, but [${b.shape.join(", ")}] ${b.dtype} is ${bytes}`);
      if (b.offset < 0 || b.offset + b.bytes > this.arenaBytes) {
        this.problem(`buffer \`${b.name}\` at [${b.offset}, ${b.offset + b.bytes}) does not fit in the arena of ${this.arenaBytes} bytes`);
      }
      const used = spans.get(b.name);
      if (b.role === "activation") {
        const program = this.scope === "decode" ? "decode" : "step";
        if (!used) this.problem(`activation buffer \`${b.name}\` is never used by the ${program} program`);
        else if (!b.live || b.live[0] !== used[0] || b.live[1] !== used[1]) {
          this.problem(`activation buffer \`${b.name}\` says live ${b.live ? `[${b.live.join(", ")}]` : "nowhere"}, but ${program} ops ${used[0]}..${used[1]} use it`);
        }
        placed.push({ b, span: used ?? b.live });
      } else {
        if (b.live) this.problem(`${b.role} buffer \`${b.name}\` lives across steps but carries a within-step span`);
        placed.push({ b, span: undefined });
      }
    }
    placed.sort((x, y) => x.b.offset - y.b.offset);
    for (let i = 0; i < placed.length; i++) {
      const a = placed[i]!;
      for (let j = i + 1; j < placed.length; j++) {
        const c = placed[j]!;
        if (c.b.offset >= a.b.offset + a.b.bytes) break;
        if (a.b.bytes === 0 || c.b.bytes === 0) continue;
        // PipeFusion: buffers that no rank uses together (disjoint pipeline stages) may share bytes.
        const sameRank = !a.b.stages || !c.b.stages || stagesMeet(new Set(a.b.stages), new Set(c.b.stages));
        const together = sameRank && (!a.span || !c.span || (a.span[0] <= c.span[1] && c.span[0] <= a.span[1]));
        if (together) this.problem(`buffers \`${a.b.name}\` and \`${c.b.name}\` overlap in the arena while both are live`);
      }
    }
  }

  private shard(where: string, shard: Shard): void {
    const degree = this.degreeOf(shard.axis);
    if (shard.parts !== degree) this.problem(`${where} is split in ${shard.parts} parts over ${shard.axis}, whose groups hold ${degree} ranks`);
  }

  private inputsAndOutputs(): void {
    const cfg = this.degreeOf("cfg");
    const filled = new Map<string, { first: number; count: number; cfgRank?: number }[]>();
    this.plan.inputs.forEach((input, i) => {
      const where = `input ${i} (${input.source} into \`${input.buffer}\`)`;
      const named = this.names.get(input.buffer);
      if (!named?.buffer) return this.problem(`${where} fills a buffer that is not declared`);
      if (named.buffer.role !== "input" && named.buffer.role !== "state") this.problem(`${where} fills a ${named.buffer.role} buffer`);
      const rows = named.shape[0] ?? 1;
      if (input.rows.first + input.rows.count > rows) this.problem(`${where} fills rows ${input.rows.first}..${input.rows.first + input.rows.count - 1} of ${rows}`);
      if (input.cfgRank !== undefined && cfg !== 2) this.problem(`${where} is for cfg rank ${input.cfgRank}, but the cfg degree is ${cfg}`);
      if (input.samplesShard) this.shard(where, input.samplesShard);
      const list = filled.get(input.buffer) ?? [];
      list.push({ ...input.rows, ...(input.cfgRank !== undefined ? { cfgRank: input.cfgRank } : {}) });
      filled.set(input.buffer, list);
    });
    const mustFill = new Set([...this.plan.buffers.filter((b) => b.role === "input").map((b) => b.name), ...filled.keys()]);
    for (const name of mustFill) {
      const rows = this.names.get(name)?.shape[0] ?? 1;
      for (let rank = 0; rank < Math.max(cfg, 1); rank++) {
        const covered = new Array<number>(rows).fill(0);
        for (const e of filled.get(name) ?? []) {
          if (e.cfgRank !== undefined && e.cfgRank !== rank) continue;
          for (let r = e.first; r < Math.min(rows, e.first + e.count); r++) covered[r]!++;
        }
        const where = cfg > 1 ? ` on cfg rank ${rank}` : "";
        if (covered.some((c) => c === 0)) this.problem(`input buffer \`${name}\` has rows no input fills${where}`);
        if (covered.some((c) => c > 1)) this.problem(`input buffer \`${name}\` has rows two inputs fill${where}`);
      }
    }
    for (const out of this.plan.outputs) if (!this.names.get(out.buffer)?.buffer) this.problem(`output ${out.name} names \`${out.buffer}\`, which is not a declared buffer`);
  }

  /** The reads and writes of every op: names exist, hold values when read, and are writable where written. */
  private programs(): void {
    const available = new Set<string>(this.plan.weights.map((w) => w.name));
    for (const input of this.plan.inputs) available.add(input.buffer);
    const carried = new Set<string>();
    for (const op of this.plan.program.step) {
      const io = opBuffers(op) as OpBuffers | undefined;
      for (const name of io?.writes ?? []) if (this.names.get(name)?.buffer?.role === "state") carried.add(name);
    }
    for (const program of ["setup", "step"] as const) {
      const ops = this.plan.program[program];
      const writtenHere = new Map<string, Op>();
      ops.forEach((op, i) => {
        const where = label(program, op);
        if (op.id !== i) this.problem(`${program} op at position ${i} has id ${op.id}`);
        const io = opBuffers(op) as OpBuffers | undefined;
        if (!io) return this.problem(`${where}: unknown op`);
        if (DECODE_OPS.has(op.op) || usesDecodeGroup(op)) this.problem(`${where} belongs to the VAE decode, not the ${program} program`);
        // PipeFusion: the op writes its tokens' K/V into the buffer before it reads the buffer (ops.ts KvCacheRef).
        if (op.op === "self_attention" && op.kvCache) available.add(op.kvCache.buffer);
        for (const name of io.reads) this.read(program, op, where, name, available, carried, writtenHere);
        for (const name of io.writes) this.write(program, where, name);
        for (const name of io.writes) {
          available.add(name);
          writtenHere.set(name, op);
        }
        this.sizes(where, op);
        this.dtypes(where, op);
      });
    }
  }

  /** The decode program: names exist and hold values when read, sizes agree, collectives use the decode group only. */
  private decodeProgram(): void {
    const decode = this.plan.decode!;
    const available = new Set<string>([...decode.weights.map((w) => w.name), decode.input]);
    const writtenHere = new Map<string, Op>();
    decode.program.forEach((op, i) => {
      const where = label("decode", op);
      if (op.id !== i) this.problem(`decode op at position ${i} has id ${op.id}`);
      const io = opBuffers(op) as OpBuffers | undefined;
      if (!io) return this.problem(`${where}: unknown op`);
      if (op.pab || op.mlp || op.stage !== undefined || op.phase || op.latentRing) this.problem(`${where} carries a step-program tag (pab, mlp, stage, phase or latentRing)`);
      const axis = "axis" in op ? op.axis : undefined;
      if (axis !== undefined && axis !== "decode") this.problem(`${where} communicates over ${axis}; the decode communicates over its decode group only`);
      for (const name of io.reads) this.read("decode", op, where, name, available, new Set(), writtenHere);
      for (const name of io.writes) this.write("decode", where, name);
      for (const name of io.writes) {
        available.add(name);
        writtenHere.set(name, op);
      }
      this.sizes(where, op);
      this.dtypes(where, op);
    });
    const read = new Set(decode.program.flatMap((op) => opBuffers(op).reads));
    for (const w of decode.weights) if (!read.has(w.name)) this.problem(`weight \`${w.name}\` is listed but no decode op reads it`);
    if (!available.has(decode.output) || !writtenHere.has(decode.output)) this.problem(`output \`${decode.output}\` is never written by the decode program`);
  }

  /** The decode's own table: its sizes, split, passes, ranks and dtypes agree with each other and with the mesh. */
  private decodeTable(): void {
    const d: PlanDecode = this.plan.decode!;
    const factor = 8;
    const { latent, split } = d;
    if (d.image.height !== factor * latent.height || d.image.width !== factor * latent.width) {
      this.problem(`image ${d.image.height}x${d.image.width} is not ${factor} x the latent's ${latent.height}x${latent.width}`);
    }
    if (d.framesPerPass > latent.frames) this.problem(`${d.framesPerPass} frames per pass exceed the latent's ${latent.frames}`);
    let pass = { height: latent.height, width: latent.width };
    let tiles = 1;
    if (split.kind === "tiled") {
      pass = split.tile;
      tiles = split.rows.length * split.cols.length;
      this.tileStarts("rows", split.rows, latent.height, split.tile.height, split.overlap);
      this.tileStarts("cols", split.cols, latent.width, split.tile.width, split.overlap);
    } else if (split.kind === "patch") {
      if (split.parts !== this.groupSize("decode")) this.problem(`the patch split has ${split.parts} parts, but the mesh's decode groups hold ${this.groupSize("decode")} ranks`);
      if (latent.height % split.parts !== 0) this.problem(`the latent's ${latent.height} rows do not split in ${split.parts} bands`);
      pass = { height: latent.height / split.parts, width: latent.width };
    }
    const passes = Math.ceil(latent.frames / d.framesPerPass) * tiles;
    if (d.passes !== passes) this.problem(`passes is ${d.passes}, not ceil(frames / framesPerPass) x tiles = ${passes}`);
    const input = this.names.get(d.input)?.buffer;
    const output = this.names.get(d.output)?.buffer;
    const inShape = [d.framesPerPass, pass.height, pass.width, latent.channels];
    const outShape = [d.framesPerPass, factor * pass.height, factor * pass.width, 3];
    if (input?.role !== "input" || input.shape.join("x") !== inShape.join("x")) this.problem(`input \`${d.input}\` is not an input buffer [${inShape.join(", ")}]`);
    if (output?.role !== "output" || output.shape.join("x") !== outShape.join("x")) this.problem(`output \`${d.output}\` is not an output buffer [${outShape.join(", ")}]`);
    for (const b of d.buffers) {
      if (b.role !== "input" && b.role !== "output" && b.role !== "activation") this.problem(`buffer \`${b.name}\` is a ${b.role} buffer; a decode pass holds only its input, output and activations`);
    }
    for (const named of [...d.weights, ...d.buffers]) if (named.dtype !== d.dtype) this.problem(`\`${named.name}\` is ${named.dtype}, not the decode's ${d.dtype}`);
    this.decodeRanks(d);
  }

  private tileStarts(what: string, starts: readonly number[], size: number, tile: number, overlap: number): void {
    const last = starts[starts.length - 1];
    if (tile > size) this.problem(`tiles of ${tile} exceed the latent's ${size} ${what}`);
    const ok =
      starts[0] === 0 &&
      last === size - tile &&
      starts.every((start, i) => i === 0 || (start > starts[i - 1]! && start - starts[i - 1]! <= tile - overlap));
    if (!ok) this.problem(`tile ${what} [${starts.join(", ")}] do not cover ${size} with tiles of ${tile} overlapping by at least ${overlap}`);
  }

  private groupSize(axis: GroupAxis): number {
    return this.plan.mesh.groups[axis]?.[0]?.length ?? 1;
  }

  /** Patch: every member of the decode groups decodes; else one rank per dp group, the one returning outputs. */
  private decodeRanks(d: PlanDecode): void {
    const { mesh } = this.plan;
    const ranks = [...d.ranks].sort((a, b) => a - b);
    if (new Set(ranks).size !== ranks.length || ranks.some((r) => r < 0 || r >= mesh.world)) this.problem(`ranks [${d.ranks.join(", ")}] repeat a rank or leave the world`);
    if (d.split.kind === "patch") {
      const members = (mesh.groups.decode ?? []).flat().sort((a, b) => a - b);
      if (members.join() !== ranks.join()) this.problem(`ranks [${d.ranks.join(", ")}] are not the members of the decode groups`);
      for (const g of mesh.groups.decode ?? []) {
        const dp = new Set(g.map((r) => mesh.ranks[r]?.coords.dp));
        if (dp.size !== 1) this.problem(`decode group [${g.join(", ")}] holds ranks of several dp groups`);
      }
      return;
    }
    const dp = this.degrees.get("dp") ?? 1;
    const coords = new Set(ranks.map((r) => mesh.ranks[r]?.coords.dp));
    if (ranks.length !== dp || coords.size !== dp) this.problem(`ranks [${d.ranks.join(", ")}] are not one rank of each of the ${dp} dp groups`);
  }

  private read(
    program: ProgramName,
    op: Op,
    where: string,
    name: string,
    available: ReadonlySet<string>,
    carried: ReadonlySet<string>,
    writtenHere: ReadonlyMap<string, Op>,
  ): void {
    const named = this.names.get(name);
    if (!named) return this.problem(`${where} reads \`${name}\`, which is neither a declared buffer nor a plan weight`);
    const role = named.buffer?.role;
    if (role === "activation" && program === "setup") this.problem(`${where} reads activation \`${name}\`, which only lives within a step`);
    const held = available.has(name) || (program === "step" && role === "state" && carried.has(name));
    if (!held) this.problem(`${where} reads \`${name}\` before anything writes it`);
    const writer = writtenHere.get(name);
    const unit = writer && skipUnit(writer);
    if (unit && unit !== skipUnit(op) && role !== "cache") {
      this.problem(`${where} reads \`${name}\` from op ${writer.id}, which ${unit} skips; the buffer must be a cache`);
    }
  }

  private write(program: ProgramName, where: string, name: string): void {
    const named = this.names.get(name);
    if (!named) return this.problem(`${where} writes \`${name}\`, which is not a declared buffer`);
    const role = named.buffer?.role;
    if (!role) return this.problem(`${where} writes the weight \`${name}\``);
    if (role === "input") this.problem(`${where} writes \`${name}\`, an input the runtime owns`);
    if (program === "setup" && role === "activation") this.problem(`${where} writes activation \`${name}\`, whose space is shared within a step`);
    if (program === "step" && role === "table") this.problem(`${where} writes \`${name}\`, a table the setup program computes once`);
  }

  private count(name: string): number | undefined {
    const named = this.names.get(name);
    return named ? product(named.shape) : undefined;
  }

  /** `field` of the op names a tensor of `want` values (`formula` says why); unknown names were reported already. */
  private holds(where: string, field: string, name: string | undefined, want: number, formula: string): void {
    if (name === undefined) return;
    const have = this.count(name);
    if (have !== undefined && have !== want) this.problem(`${where}: ${field} \`${name}\` holds ${have} values, not ${formula} = ${want}`);
  }

  /** A weight read with an exact shape (a buffer standing in is checked by its count). */
  private shaped(where: string, field: string, name: string | undefined, shape: readonly number[]): void {
    if (name === undefined) return;
    const named = this.names.get(name);
    if (named && !named.buffer && named.shape.join("x") !== shape.join("x")) {
      this.problem(`${where}: ${field} \`${name}\` is [${named.shape.join(", ")}], not [${shape.join(", ")}]`);
    } else this.holds(where, field, name, product(shape), `[${shape.join(", ")}]`);
  }

  private modRef(where: string, field: string, ref: ModRef | undefined, samples: number, width: number): void {
    if (!ref) return;
    const have = this.count(ref.buffer);
    if (have === undefined) return;
    const chunks = have / (samples * width);
    if (!Number.isInteger(chunks) || ref.chunk >= chunks) {
      this.problem(`${where}: ${field} chunk ${ref.chunk} of \`${ref.buffer}\` (${have} values) is not a chunk of [${samples}, chunks, ${width}]`);
    }
  }

  private divides(where: string, what: string, value: number, by: number): void {
    if (value % by !== 0) this.problem(`${where}: ${what} ${value} does not split in ${by}`);
  }

  /** A padded token layout holds the grid (PaddedTokens); a row band of it is not defined. */
  private paddedLayout(where: string, padded: PaddedTokens, grid: { readonly frames: number; readonly rows: number; readonly cols: number }, band: unknown): void {
    if (padded.frames < grid.frames || padded.tokens < grid.rows * grid.cols) {
      this.problem(`${where}: the padded layout ${padded.frames}x${padded.tokens} does not hold the ${grid.frames}x${grid.rows * grid.cols} tokens of the grid`);
    }
    if (band !== undefined) this.problem(`${where}: a row band of a padded token layout is not defined`);
  }

  /** A collective's axis must have groups in the mesh: on a degree-1 axis the op must not exist. */
  private group(where: string, axis: GroupAxis): number {
    const degree = this.degreeOf(axis);
    if (!this.plan.mesh.groups[axis]) this.problem(`${where} communicates over ${axis}, which has no groups in the mesh (degree ${degree})`);
    return degree;
  }

  private sizes(where: string, op: Op): void {
    switch (op.op) {
      case "timestep_embed":
        this.holds(where, "t", op.t, op.samples, "samples");
        this.holds(where, "out", op.out, op.samples * op.dim, "samples·dim");
        return;
      case "linear": {
        // Head padding widens the columns written; column ranges place them in (or read them from) wider rows.
        const written = op.padColumns ? op.padColumns.chunks * op.padColumns.width : op.outFeatures;
        const width = op.outColumns ? op.outColumns.stride : written;
        this.holds(where, "x", op.x, op.rows * (op.inColumns?.stride ?? op.inFeatures), op.inColumns ? "rows·inColumns.stride" : "rows·inFeatures");
        this.holds(where, "out", op.out, op.rows * width, op.outColumns ? "rows·stride" : op.padColumns ? "rows·chunks·width" : "rows·outFeatures");
        this.shaped(where, "weight", op.weight, [op.outFeatures, op.inFeatures]);
        this.shaped(where, "bias", op.bias, [op.outFeatures]);
        if (op.padColumns && (op.outFeatures % op.padColumns.chunks !== 0 || op.outFeatures / op.padColumns.chunks > op.padColumns.width)) {
          this.problem(`${where}: ${op.outFeatures} features do not make ${op.padColumns.chunks} runs of at most ${op.padColumns.width} columns`);
        }
        if (op.outColumns && op.outColumns.offset + written > op.outColumns.stride) {
          this.problem(`${where}: columns ${op.outColumns.offset}..${op.outColumns.offset + written - 1} do not fit rows ${op.outColumns.stride} wide`);
        }
        if (op.inColumns && op.inColumns.offset + op.inFeatures > op.inColumns.stride) {
          this.problem(`${where}: input columns ${op.inColumns.offset}..${op.inColumns.offset + op.inFeatures - 1} do not fit rows ${op.inColumns.stride} wide`);
        }
        return;
      }
      case "silu":
        this.holds(where, "x", op.x, op.count, "count");
        this.holds(where, "out", op.out, op.count, "count");
        return;
      case "add":
        this.holds(where, "a", op.a, op.count, "count");
        this.holds(where, "b", op.b, op.count, "count");
        this.holds(where, "out", op.out, op.count, "count");
        return;
      case "embedding":
        this.holds(where, "ids", op.ids, op.count, "count");
        this.holds(where, "out", op.out, op.count * op.width, "count·width");
        this.divides(where, `table \`${op.table}\` of`, this.count(op.table) ?? 0, op.width);
        return;
      case "patch_embed": {
        const { latent, patch, grid } = op;
        this.holds(where, "x", op.x, op.inputSamples * op.channels * latent.frames * latent.height * latent.width, "inputSamples·channels·latent");
        this.divides(where, "samples", op.samples, op.inputSamples);
        this.holds(where, "weight", op.weight, op.hidden * op.channels * patch.t * patch.h * patch.w, "hidden·channels·patch");
        this.shaped(where, "bias", op.bias, [op.hidden]);
        if (grid.frames * patch.t < latent.frames || grid.rows * patch.h < latent.height || grid.cols * patch.w < latent.width) {
          this.problem(`${where}: the token grid ${grid.frames}x${grid.rows}x${grid.cols} does not cover the latent in patches`);
        }
        // A padded layout is split in place of the grid.
        const frames = op.padded?.frames ?? grid.frames;
        const perFrame = op.padded?.tokens ?? grid.rows * grid.cols;
        if (op.padded) this.paddedLayout(where, op.padded, grid, op.band);
        let tokens = frames * perFrame;
        if (op.shard) {
          this.shard(where, op.shard);
          this.divides(where, op.shard.dim === "frames" ? "token frames" : "tokens per frame", op.shard.dim === "frames" ? frames : perFrame, op.shard.parts);
          tokens /= op.shard.parts;
        }
        if (op.band) {
          this.divides(where, "token rows", grid.rows, op.band.count);
          tokens /= op.band.count;
        }
        this.holds(where, "out", op.out, op.samples * tokens * op.hidden, "samples·local tokens·hidden");
        return;
      }
      case "sincos_2d": {
        const parts = (op.shard?.parts ?? 1) * (op.band?.count ?? 1);
        const positions = op.padded ?? op.rows * op.cols;
        if (op.shard) this.shard(where, op.shard);
        if (positions < op.rows * op.cols) this.problem(`${where}: ${positions} padded positions do not hold the ${op.rows * op.cols} of the grid`);
        this.divides(where, "positions", positions, parts);
        this.holds(where, "out", op.out, (positions / parts) * op.width, op.padded ? "padded/parts·width" : "rows·cols/parts·width");
        return;
      }
      case "sincos_1d": {
        const parts = op.shard?.parts ?? 1;
        if (op.shard) this.shard(where, op.shard);
        this.divides(where, "positions", op.count, parts);
        this.holds(where, "out", op.out, (op.count / parts) * op.width, "count/parts·width");
        return;
      }
      case "constant":
        this.holds(where, "out", op.out, op.count, "count");
        return;
      case "concat":
        if (op.parts.length !== op.widths.length) this.problem(`${where}: ${op.parts.length} parts but ${op.widths.length} widths`);
        op.parts.forEach((part, i) => this.holds(where, `part ${i}`, part, op.rows * (op.widths[i] ?? 0), `rows·widths[${i}]`));
        this.holds(where, "out", op.out, op.rows * op.widths.reduce((a, b) => a + b, 0), "rows·sum of widths");
        return;
      case "add_rows":
        this.holds(where, "x", op.x, op.rows * op.width, "rows·width");
        this.holds(where, "table", op.table, op.period * op.width, "period·width");
        this.holds(where, "out", op.out, op.rows * op.width, "rows·width");
        return;
      case "modulation":
        if (op.sourceChunks !== 1 && op.sourceChunks !== op.chunks) this.problem(`${where}: sourceChunks ${op.sourceChunks} is neither 1 nor chunks ${op.chunks}`);
        this.holds(where, "source", op.source, op.samples * op.sourceChunks * op.width, "samples·sourceChunks·width");
        this.holds(where, "table", op.table, op.chunks * op.width, "chunks·width");
        this.holds(where, "out", op.out, op.samples * op.chunks * op.width, "samples·chunks·width");
        return;
      case "layernorm_modulate":
      case "gate": {
        this.holds(where, "x", op.x, op.rows * op.width, "rows·width");
        this.holds(where, "out", op.out, op.rows * op.width, "rows·width");
        this.divides(where, "rows", op.rows, op.rowsPerSample);
        const samples = op.rows / op.rowsPerSample;
        if (op.op === "gate") this.modRef(where, "gate", op.gate, samples, op.width);
        else {
          this.modRef(where, "shift", op.shift, samples, op.width);
          this.modRef(where, "scale", op.scale, samples, op.width);
        }
        return;
      }
      case "permute":
        this.holds(where, "x", op.x, product(op.dims), "the product of dims");
        this.holds(where, "out", op.out, product(op.dims), "the product of dims");
        if ([...op.perm].sort().join() !== "0,1,2,3") this.problem(`${where}: perm [${op.perm.join(", ")}] is not a permutation of the 4 axes`);
        return;
      case "self_attention": {
        const tokens = op.batch * op.seq;
        this.holds(where, "qkv", op.qkv, tokens * 3 * op.heads * op.headDim, "batch·seq·3·heads·headDim");
        this.holds(where, "out", op.out, tokens * op.heads * op.headDim, "batch·seq·heads·headDim");
        this.shaped(where, "qNorm weight", op.qNorm?.weight, [op.headDim]);
        this.shaped(where, "kNorm weight", op.kNorm?.weight, [op.headDim]);
        if (op.ring) this.group(where, op.ring);
        if (op.kvCache) {
          const { buffer, keys, offset } = op.kvCache;
          this.holds(where, "kvCache", buffer, op.batch * keys * 2 * op.heads * op.headDim, "batch·keys·2·heads·headDim");
          if (offset + op.seq > keys) this.problem(`${where}: its ${op.seq} tokens at row ${offset} do not fit the ${keys} K/V rows of \`${buffer}\``);
        }
        const keys = op.kvCache ? op.kvCache.keys : op.seq * (op.ring ? this.degreeOf(op.ring) : 1);
        if (op.validKeys !== undefined && op.validKeys > keys) this.problem(`${where}: ${op.validKeys} valid keys exceed the ${keys} keys of each sequence`);
        return;
      }
      case "cross_attention": {
        const width = op.heads * op.headDim;
        this.holds(where, "q", op.q, op.samples * op.queries * width, "samples·queries·heads·headDim");
        this.holds(where, "kv", op.kv, op.samples * op.keys * 2 * width, "samples·keys·2·heads·headDim");
        this.holds(where, "mask", op.mask, op.samples * op.keys, "samples·keys");
        this.holds(where, "out", op.out, op.samples * op.queries * width, "samples·queries·heads·headDim");
        return;
      }
      case "unpatchify": {
        const { grid, patch, latent } = op;
        const features = patch.t * patch.h * patch.w * op.channels;
        // PipeFusion: a row band of the grid, into the latent rows it covers.
        const bandRows = grid.rows / (op.band?.count ?? 1);
        const first = (op.band?.index ?? 0) * bandRows * patch.h;
        const height = Math.min(latent.height, first + bandRows * patch.h) - first;
        if (op.padded) this.paddedLayout(where, op.padded, grid, op.band);
        const tokens = op.padded ? op.padded.frames * op.padded.tokens : grid.frames * bandRows * grid.cols;
        this.holds(where, "x", op.x, op.samples * tokens * features, `samples·${op.padded ? "padded " : ""}tokens·pt·ph·pw·channels`);
        this.holds(where, "out", op.out, op.samples * op.channels * latent.frames * height * latent.width, "samples·channels·latent");
        return;
      }
      case "all_to_all": {
        const degree = this.group(where, op.axis);
        this.holds(where, "x", op.x, product(op.dims), "the product of dims");
        this.holds(where, "out", op.out, product(op.dims), "the product of dims");
        if (op.scatter === op.gather || op.scatter > 3 || op.gather > 3) this.problem(`${where}: scatter ${op.scatter} and gather ${op.gather} are not two axes of the 4-D view`);
        else this.divides(where, `scatter dim ${op.scatter} of`, op.dims[op.scatter] ?? 0, degree);
        return;
      }
      case "all_gather": {
        const degree = this.group(where, op.axis);
        if (op.dim > 3) this.problem(`${where}: dim ${op.dim} is not an axis of the 4-D view`);
        this.holds(where, "x", op.x, product(op.dims), "the product of dims");
        this.holds(where, "out", op.out, product(op.dims) * degree, `the product of dims·${degree} ranks`);
        return;
      }
      case "guidance": {
        const kept = op.variance === "cond" ? 2 * op.predictionChannels : op.predictionChannels;
        this.holds(where, "x", op.x, 2 * op.samples * op.channels * op.plane, "2·samples·channels·plane");
        this.holds(where, "out", op.out, op.samples * kept * op.plane, "samples·kept channels·plane");
        if (op.mixed > op.predictionChannels || kept > op.channels) {
          this.problem(`${where}: mixes ${op.mixed} and keeps ${kept} of ${op.predictionChannels} prediction channels out of ${op.channels}`);
        }
        return;
      }
      case "send":
      case "recv":
        this.group(where, op.axis);
        return;
      case "conv2d": {
        const pixels = op.frames * op.height * op.width;
        this.holds(where, "x", op.x, pixels * op.inChannels, "frames·height·width·inChannels");
        this.holds(where, "out", op.out, pixels * op.outChannels, "frames·height·width·outChannels");
        this.shaped(where, "weight", op.weight, [op.outChannels, op.inChannels, op.kernel, op.kernel]);
        this.shaped(where, "bias", op.bias, [op.outChannels]);
        if (op.halo) {
          this.group(where, op.halo.axis);
          if (op.kernel !== 3) this.problem(`${where}: a ${op.kernel}x${op.kernel} convolution needs no halo rows`);
        }
        return;
      }
      case "group_norm": {
        const values = op.frames * op.height * op.width * op.channels;
        this.holds(where, "x", op.x, values, "frames·height·width·channels");
        this.holds(where, "out", op.out, values, "frames·height·width·channels");
        this.shaped(where, "weight", op.weight, [op.channels]);
        this.shaped(where, "bias", op.bias, [op.channels]);
        this.divides(where, "channels", op.channels, op.groups);
        if (op.reduce) this.group(where, op.reduce.axis);
        return;
      }
      case "upsample_nearest":
        this.holds(where, "x", op.x, op.frames * op.height * op.width * op.channels, "frames·height·width·channels");
        this.holds(where, "out", op.out, op.frames * op.factor * op.height * op.factor * op.width * op.channels, "frames·factor²·height·width·channels");
        return;
      case "solver_update":
        if (op.stride < (op.learnedVariance ? 2 : 1) * op.channels) this.problem(`${where}: stride ${op.stride} leaves no room for the prediction's channels`);
        if (op.solver !== this.plan.schedule.solver) this.problem(`${where}: solver ${op.solver}, but the schedule's is ${this.plan.schedule.solver}`);
        if (op.band) {
          // PipeFusion: the prediction covers the band's rows; the latent and history are whole.
          const whole = (op.plane / op.band.count) * op.band.height;
          if (op.band.first + op.band.count > op.band.height) this.problem(`${where}: rows ${op.band.first}..${op.band.first + op.band.count - 1} leave the latent's ${op.band.height}`);
          this.holds(where, "latent", op.latent, op.samples * op.channels * whole, "samples·channels·whole plane");
          this.holds(where, "prediction", op.prediction, op.samples * op.stride * op.plane, "samples·stride·plane");
          this.holds(where, "history", op.history, op.samples * op.channels * whole, "samples·channels·whole plane");
          return;
        }
        this.holds(where, "latent", op.latent, op.samples * op.channels * op.plane, "samples·channels·plane");
        this.holds(where, "prediction", op.prediction, op.samples * op.stride * op.plane, "samples·stride·plane");
        this.holds(where, "history", op.history, op.samples * op.channels * op.plane, "samples·channels·plane");
        return;
    }
  }

  /** Integer ids and masks are i32; every other tensor an op touches holds floating-point values. */
  private dtypes(where: string, op: Op): void {
    const integers = new Set(op.op === "embedding" ? [op.ids] : op.op === "cross_attention" ? [op.mask] : []);
    const io = opBuffers(op);
    for (const name of [...io.reads, ...io.writes]) {
      const dtype = this.names.get(name)?.dtype;
      if (dtype === undefined) continue;
      if (integers.has(name) !== (dtype === "i32")) this.problem(`${where}: \`${name}\` is ${dtype}, but the op ${integers.has(name) ? "reads integers" : "computes in floating point"}`);
    }
  }

  /** The padding table is arithmetic that holds, and names exactly the dimensions the ops pad. */
  private paddingTable(): void {
    const entries = this.plan.padding ?? [];
    for (const p of entries) {
      const even = Math.ceil(p.from / p.parts) * p.parts;
      if (p.to !== even || p.to === p.from) this.problem(`padding of ${p.dim} says ${p.from} to ${p.to}, but ${p.from} padded to a multiple of ${p.parts} is ${even}`);
      if (p.wasted !== (p.to - p.from) / p.to) this.problem(`padding of ${p.dim} says ${p.wasted} wasted, not (to − from) / to = ${(p.to - p.from) / p.to}`);
    }
    const listed = entries.map((p) => p.dim).sort().join(", ");
    const used = [...paddedDims(this.plan)].sort().join(", ");
    if (listed !== used) this.problem(`the padding table lists [${listed}], but the ops pad [${used}]`);
  }

  /** Steps and patterns agree, and no step reuses a cache that no earlier step filled. */
  private stepTables(): void {
    const { patterns, steps, schedule } = this.plan;
    patterns.forEach((p, i) => {
      if (p.id !== i) this.problem(`pattern at position ${i} has id ${p.id}`);
      const running = steps.filter((s) => s.pattern === p.id).length;
      if (running !== p.steps) this.problem(`pattern ${p.id} says ${p.steps} steps, but ${running} steps run it`);
      for (const name of [...p.mlpReuse, ...p.mlpKeep]) {
        const [kind, index] = name.split(":");
        const tagged = this.plan.program.step.some((op) => op.mlp && op.blockKind === kind && String(op.block) === index);
        if (!tagged) this.problem(`pattern ${p.id} names the MLP of ${name}, but no step op belongs to that MLP broadcast`);
      }
    });
    const computed = new Set<string>();
    const kept = new Set<string>();
    steps.forEach((s, i) => {
      if (s.schedule.index !== i) this.problem(`step ${i} carries the schedule entry of step ${s.schedule.index}`);
      const p = patterns[s.pattern];
      if (!p) return this.problem(`step ${i} runs pattern ${s.pattern}, which does not exist`);
      for (const kind of p.reuse) if (!computed.has(kind)) this.problem(`step ${i} reuses ${kind} attention before any step computed it`);
      for (const block of p.mlpReuse) if (!kept.has(block)) this.problem(`step ${i} reuses the MLP of ${block} before any step kept it`);
      for (const kind of ["spatial", "temporal", "cross"]) if (!p.reuse.includes(kind)) computed.add(kind);
      for (const block of p.mlpKeep) kept.add(block);
    });
    const solvers = this.plan.program.step.filter((op) => op.op === "solver_update");
    const phases = [...new Set(patterns.flatMap((p) => (p.phase ? [p.phase] : [])))];
    if (phases.length === 0 && solvers.length !== 1) this.problem(`the step program has ${solvers.length} solver updates, not 1`);
    // PipeFusion: each phase the patterns run updates every latent row exactly once, whole or band by band.
    for (const phase of phases) {
      const own = solvers.filter((op) => op.phase === phase || op.phase === undefined);
      const height = this.plan.geometry.latent.height;
      const rows = new Array<number>(height).fill(0);
      for (const op of own) {
        const band = op.op === "solver_update" ? op.band : undefined;
        for (let r = band?.first ?? 0; r < (band ? band.first + band.count : height); r++) rows[r] = (rows[r] ?? 0) + 1;
      }
      if (rows.some((c) => c !== 1)) this.problem(`the ${phase} phase has ${own.length} solver updates that do not update every latent row once`);
    }
    const guidance = this.plan.program.step.find((op) => op.op === "guidance");
    const summary = guidance?.op === "guidance" ? { scale: guidance.scale, mixed: guidance.mixed, variance: guidance.variance } : null;
    if (canonicalJson(summary) !== canonicalJson(schedule.guidance)) {
      this.problem(`schedule.guidance ${JSON.stringify(schedule.guidance)} does not match the guidance op (${JSON.stringify(summary)})`);
    }
  }
}

/** The dimensions padded ops name, as the plan's padding table names them. */
function paddedDims(plan: Plan): Set<string> {
  const dims = new Set<string>();
  for (const op of plan.program.step) {
    if (op.op === "patch_embed" && op.padded) {
      if (op.padded.frames > op.grid.frames) dims.add("frames");
      if (op.padded.tokens > op.grid.rows * op.grid.cols) dims.add("tokens");
    }
    if (op.op === "linear" && op.padColumns) dims.add("heads");
  }
  return dims;
}

/** Whether an op communicates over the decode group (only the decode program may). */
function usesDecodeGroup(op: Op): boolean {
  if ("axis" in op && op.axis === "decode") return true;
  return (op.op === "conv2d" && op.halo !== undefined) || (op.op === "group_norm" && op.reduce !== undefined);
}

/** Every inconsistency of `plan`, as sentences (those of its decode start with `decode: `); [] when there is none. */
export function verifyPlan(plan: Plan): string[] {
  const problems = new PlanVerifier(plan).run();
  if (plan.decode) problems.push(...new PlanVerifier(plan, "decode").run().map((p) => `decode: ${p}`));
  return problems;
}
