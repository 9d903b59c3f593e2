/**
 * The device mesh of a plan: how the parallel degrees of a checked layout place the world's ranks, each rank's
 * coordinate on every axis, and the communicator groups the runtime creates once at start-up.
 *
 * One order for everything, innermost (fastest varying) first: dsp, ulysses, ring, pipefusion, cfg, dp — the
 * reverse of the canonical AXES order. This is xDiT's RankGenerator order "tp-sp-pp-cfg-dp" without tp, with
 * Ulysses innermost inside sp (yunchang use_ulysses_low), our pipefusion in xDiT's pp slot, and dsp in the
 * innermost slot that Ulysses would take (the two never combine). So
 *
 *     rank = sum over axes of coordinate(axis) * stride(axis),   stride = product of the degrees inside it
 *
 * and a layout lowered here puts the same ranks in the same groups as xDiT does for the same degrees. The
 * innermost axes carry the most traffic per step (an all-to-all or K/V ring inside every attention), so they
 * get contiguous ranks and stay inside a node; dp, the axis that never communicates during denoising, spans
 * nodes first.
 *
 * Every group is generated from this one mesh (xdit.md §3.3 lists the bugs of building groups in several
 * places). The mesh is built only for a layout the checker accepted; a violated precondition is a bug in the
 * caller, so it throws instead of producing a diagnostic.
 */
import { AXES, type Axis } from "../../grammar/expr/types.js";

/** The mesh axes, innermost first (the canonical AXES order reversed). */
export const MESH_AXES: readonly Axis[] = Object.freeze([...AXES].reverse());

/**
 * The axes a sample's token sequence is split over. At most one of dsp and ulysses/ring is above 1 in a checked
 * layout, so this group is the DSP group under DSP and the Ulysses x Ring block under USP.
 */
export const SEQUENCE_AXES: readonly Axis[] = Object.freeze(["dsp", "ulysses", "ring"] as const);

/**
 * The axes of a decode group (plan.decode's patch split): every axis but dp. Its ranks hold the same samples
 * at the end of the step loop (cfg halves are joined by guidance, sequence shards gathered before the solver),
 * so they can split the decode of those samples between them.
 */
export const DECODE_AXES: readonly Axis[] = Object.freeze(MESH_AXES.filter((a) => a !== "dp"));

/**
 * What groups are keyed by: a mesh axis, `sequence`, the combined Ulysses x Ring block of USP, or `decode`, the
 * ranks that split the VAE decode of the same samples (every axis but dp; only with plan.decode's patch split).
 */
export type GroupAxis = Axis | "sequence" | "decode";

/** A communicator group: its ranks in ascending order, which is also the order of the axis coordinate. */
export type RankGroup = readonly number[];

export interface MeshAxis {
  readonly name: Axis;
  readonly degree: number;
  /** Rank distance between neighbouring coordinates on this axis: the product of the degrees inside it. */
  readonly stride: number;
}

export interface MeshRank {
  readonly rank: number;
  /** Coordinate on every axis; 0 on axes of degree 1. */
  readonly coords: Readonly<Record<Axis, number>>;
  /** The node the rank runs on: rank / ranksPerNode, rounded down. */
  readonly node: number;
  /** The rank's index on its node (its GPU there). */
  readonly localRank: number;
}

export interface Mesh {
  /** Number of ranks: the product of all degrees. */
  readonly world: number;
  /** Ranks on each node; the whole world (one node) when the caller gave none. */
  readonly ranksPerNode: number;
  readonly nodes: number;
  /** All six axes, innermost first, degree-1 axes included so that every coordinate has a stride. */
  readonly axes: readonly MeshAxis[];
  /** Indexed by global rank. */
  readonly ranks: readonly MeshRank[];
  /**
   * The communicators to create: the groups of every axis with degree above 1 (a degree-1 axis has only
   * singleton groups, which need no communicator), plus `sequence` when both ulysses and ring are above 1
   * (the ring K/V exchange and the final gather of USP run over it), plus `decode` when the VAE decode is
   * split in row bands over the ranks that hold the same samples. Groups are listed by their lowest rank;
   * the groups of one key partition the ranks.
   */
  readonly groups: Readonly<Partial<Record<GroupAxis, readonly RankGroup[]>>>;
  /** Per key of `groups`: whether every one of its groups lies on a single node (the cost model's link choice). */
  readonly intraNode: Readonly<Partial<Record<GroupAxis, boolean>>>;
}

export interface MeshOptions {
  /** GPUs (ranks) per node; ranks fill nodes in order. Default: the whole world on one node. */
  readonly ranksPerNode?: number;
  /** Add the `decode` groups (a patch-split VAE decode); only when they hold more than one rank. */
  readonly decodeGroups?: boolean;
}

function requirePositiveInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
}

function axesAlong(axis: GroupAxis): readonly Axis[] {
  return axis === "sequence" ? SEQUENCE_AXES : axis === "decode" ? DECODE_AXES : [axis];
}

/** The axes of `along` in mesh order, as they appear in the mesh (with degree and stride). */
function meshAxesAlong(mesh: Pick<Mesh, "axes">, along: readonly Axis[]): MeshAxis[] {
  return mesh.axes.filter((a) => along.includes(a.name));
}

/**
 * The ranks that share every coordinate of `rank` except those on `along`, ordered by the combined coordinate
 * on `along` (innermost fastest). Strides grow outwards, so that order is also ascending rank order.
 */
function membersAlong(mesh: Pick<Mesh, "axes">, along: readonly Axis[], rank: number): number[] {
  const axes = meshAxesAlong(mesh, along);
  let base = rank;
  for (const a of axes) base -= (Math.floor(rank / a.stride) % a.degree) * a.stride;
  let members = [base];
  for (const a of axes) {
    const next: number[] = [];
    for (let c = 0; c < a.degree; c++) for (const m of members) next.push(m + c * a.stride);
    members = next;
  }
  return members;
}

/** Every group along `along`, listed by lowest rank: the ranks with coordinate 0 on `along` each start one. */
function groupsAlong(mesh: Pick<Mesh, "axes" | "world">, along: readonly Axis[]): RankGroup[] {
  const axes = meshAxesAlong(mesh, along);
  const groups: RankGroup[] = [];
  for (let r = 0; r < mesh.world; r++) {
    if (axes.every((a) => Math.floor(r / a.stride) % a.degree === 0)) groups.push(Object.freeze(membersAlong(mesh, along, r)));
  }
  return groups;
}

/**
 * Lowers the degrees of a checked layout to its mesh. Throws a RangeError when a degree or `ranksPerNode` is
 * not a positive integer, or when dsp is combined with ulysses or ring (the checker rejects such layouts: DSP
 * and USP are two ways of splitting the same sequence).
 */
export function buildMesh(degrees: Readonly<Record<Axis, number>>, options: MeshOptions = {}): Mesh {
  for (const axis of AXES) requirePositiveInteger(degrees[axis], `degree of ${axis}`);
  if (degrees.dsp > 1 && (degrees.ulysses > 1 || degrees.ring > 1)) {
    throw new RangeError(`dsp ${degrees.dsp} cannot combine with ulysses ${degrees.ulysses} x ring ${degrees.ring}`);
  }

  const axes: MeshAxis[] = [];
  let stride = 1;
  for (const name of MESH_AXES) {
    axes.push(Object.freeze({ name, degree: degrees[name], stride }));
    stride *= degrees[name];
  }
  const world = stride;
  const ranksPerNode = options.ranksPerNode ?? world;
  requirePositiveInteger(ranksPerNode, "ranksPerNode");

  const ranks: MeshRank[] = [];
  for (let rank = 0; rank < world; rank++) {
    const coords = Object.fromEntries(
      AXES.map((name) => {
        const a = axes.find((x) => x.name === name)!;
        return [name, Math.floor(rank / a.stride) % a.degree];
      }),
    ) as Record<Axis, number>;
    ranks.push(
      Object.freeze({ rank, coords: Object.freeze(coords), node: Math.floor(rank / ranksPerNode), localRank: rank % ranksPerNode }),
    );
  }

  const shape = { axes, world };
  const keys: GroupAxis[] = axes.filter((a) => a.degree > 1).map((a) => a.name);
  if (degrees.ulysses > 1 && degrees.ring > 1) keys.push("sequence");
  if (options.decodeGroups && DECODE_AXES.some((a) => degrees[a] > 1)) keys.push("decode");
  const groups: Partial<Record<GroupAxis, readonly RankGroup[]>> = {};
  const intraNode: Partial<Record<GroupAxis, boolean>> = {};
  for (const key of keys) {
    const list = groupsAlong(shape, axesAlong(key));
    groups[key] = Object.freeze(list);
    // A group's ranks are ascending, so it is on one node exactly when its first and last ranks are.
    intraNode[key] = list.every((g) => Math.floor(g[0]! / ranksPerNode) === Math.floor(g[g.length - 1]! / ranksPerNode));
  }

  return Object.freeze({
    world,
    ranksPerNode,
    nodes: Math.ceil(world / ranksPerNode),
    axes: Object.freeze(axes),
    ranks: Object.freeze(ranks),
    groups: Object.freeze(groups),
    intraNode: Object.freeze(intraNode),
  });
}

function requireRank(mesh: Mesh, rank: number): void {
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= mesh.world) {
    throw new RangeError(`rank ${rank} is outside the mesh of ${mesh.world} ranks`);
  }
}

/**
 * The group of `rank` along `axis`, in coordinate order. Answers for every axis: on a degree-1 axis it is the
 * rank alone, and `sequence` is the DSP group, the Ulysses x Ring block, or whichever of those is above 1.
 */
export function groupOf(mesh: Mesh, axis: GroupAxis, rank: number): RankGroup {
  requireRank(mesh, rank);
  return Object.freeze(membersAlong(mesh, axesAlong(axis), rank));
}

/**
 * The neighbours of `rank` in the ring order of its group along `axis` (coordinate order, wrapping around):
 * where a ring step sends K/V and where it receives them from, or the next and previous PipeFusion stage.
 * A rank alone in its group is its own neighbour on both sides.
 */
export function peers(mesh: Mesh, axis: GroupAxis, rank: number): { readonly prev: number; readonly next: number } {
  const group = groupOf(mesh, axis, rank);
  const at = group.indexOf(rank);
  return Object.freeze({ prev: group[(at - 1 + group.length) % group.length]!, next: group[(at + 1) % group.length]! });
}

/** The global rank at the given coordinates (axes left out are at 0): the inverse of `mesh.ranks[r].coords`. */
export function rankAt(mesh: Mesh, coords: Readonly<Partial<Record<Axis, number>>>): number {
  let rank = 0;
  for (const a of mesh.axes) {
    const c = coords[a.name] ?? 0;
    if (!Number.isSafeInteger(c) || c < 0 || c >= a.degree) {
      throw new RangeError(`coordinate ${c} on ${a.name} is outside its degree ${a.degree}`);
    }
    rank += c * a.stride;
  }
  return rank;
}
