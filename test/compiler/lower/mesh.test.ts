/**
 * The device mesh: groups partition the ranks for every layout up to 64 ranks, xDiT's worked examples of
 * RankGenerator (xdit.md §3.2) come out rank for rank, coordinates invert, node placement and intraNode flags
 * follow ranksPerNode, and the output is frozen, JSON-clean and deterministic.
 */
import { describe, expect, it } from "vitest";
import { AXES, type Axis } from "../../../grammar/expr/types.js";
import { buildMesh, groupOf, MESH_AXES, peers, rankAt, type GroupAxis, type Mesh } from "../../../compiler/lower/mesh.js";

function degrees(partial: Partial<Record<Axis, number>>): Record<Axis, number> {
  return Object.fromEntries(AXES.map((a) => [a, partial[a] ?? 1])) as Record<Axis, number>;
}

/** Every assignment of degrees to the six axes with product <= limit that the checker can accept. */
function layoutsUpTo(limit: number): Record<Axis, number>[] {
  const out: Record<Axis, number>[] = [];
  const walk = (i: number, product: number, acc: Partial<Record<Axis, number>>): void => {
    if (i === AXES.length) {
      const d = degrees(acc);
      if (!(d.dsp > 1 && (d.ulysses > 1 || d.ring > 1))) out.push(d);
      return;
    }
    for (let k = 1; product * k <= limit; k++) walk(i + 1, product * k, { ...acc, [AXES[i]!]: k });
  };
  walk(0, 1, {});
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** Brute force: the ranks that agree with `rank` on every axis outside `along`. */
function bruteGroup(mesh: Mesh, along: readonly Axis[], rank: number): number[] {
  const mine = mesh.ranks[rank]!.coords;
  return mesh.ranks
    .filter((r) => AXES.every((a) => along.includes(a) || r.coords[a] === mine[a]))
    .map((r) => r.rank);
}

const alongOf = (key: GroupAxis): readonly Axis[] => (key === "sequence" ? ["dsp", "ulysses", "ring"] : key === "decode" ? AXES.filter((a) => a !== "dp") : [key]);

describe("buildMesh over every layout of at most 64 ranks", () => {
  const layouts = layoutsUpTo(64);

  it("enumerates a meaningful set of layouts", () => {
    expect(layouts.length).toBeGreaterThan(1000);
  });

  it("has the product of the degrees as its world and one entry per rank", () => {
    for (const d of layouts) {
      const mesh = buildMesh(d);
      expect(mesh.world).toBe(AXES.reduce((p, a) => p * d[a], 1));
      expect(mesh.ranks.map((r) => r.rank)).toEqual(range(0, mesh.world));
    }
  });

  it("partitions the ranks with the groups of every axis (and the decode groups: every axis but dp), each group ordered by coordinate", () => {
    for (const d of layouts) {
      const mesh = buildMesh(d, { ranksPerNode: 8, decodeGroups: true });
      const expectedKeys: GroupAxis[] = MESH_AXES.filter((a) => d[a] > 1);
      if (d.ulysses > 1 && d.ring > 1) expectedKeys.push("sequence");
      if (AXES.some((a) => a !== "dp" && d[a] > 1)) expectedKeys.push("decode");
      expect(Object.keys(mesh.groups)).toEqual(expectedKeys);
      expect(Object.keys(mesh.intraNode)).toEqual(expectedKeys);

      for (const key of expectedKeys) {
        const groups = mesh.groups[key]!;
        const along = alongOf(key);
        const size = along.reduce((p, a) => p * d[a], 1);
        expect(groups.length * size).toBe(mesh.world);
        expect(groups.flat().sort((a, b) => a - b)).toEqual(range(0, mesh.world));
        const firsts = groups.map((g) => g[0]!);
        expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
        // Each group equals the brute-force set of ranks agreeing off `along` (hence sorted and of full size),
        // lists its ranks by their coordinate on the axis, and is what groupOf answers for each of its ranks.
        // Compared as whole arrays per axis: an expect per group costs more than the mesh itself.
        expect(groups).toEqual(groups.map((g) => bruteGroup(mesh, along, g[0]!)));
        expect(groups.every((g) => g.length === size)).toBe(true);
        if (key !== "sequence" && key !== "decode") {
          expect(groups.map((g) => g.map((r) => mesh.ranks[r]!.coords[key]))).toEqual(groups.map(() => range(0, size)));
        }
        expect(groups.every((g) => g.every((r) => groupOf(mesh, key, r).join() === g.join()))).toBe(true);
        const sameNode = groups.every((g) => new Set(g.map((r) => mesh.ranks[r]!.node)).size === 1);
        expect(mesh.intraNode[key]).toBe(sameNode);
      }
    }
  });

  it("places ranks exactly as xDiT's tp-sp-pp-cfg-dp order with Ulysses inside sp (tp = 1)", () => {
    for (const d of layouts) {
      const mesh = buildMesh(d);
      const xdit = mesh.ranks.map(({ coords: c }) => {
        const sequenceRank = c.dsp + c.ulysses + d.ulysses * c.ring;
        const sequenceDegree = d.dsp * d.ulysses * d.ring;
        return sequenceRank + sequenceDegree * (c.pipefusion + d.pipefusion * (c.cfg + d.cfg * c.dp));
      });
      expect(xdit).toEqual(range(0, mesh.world));
    }
  });

  it("round-trips rank -> coordinates -> rank, with coordinates inside the degrees", () => {
    for (const d of layouts) {
      const mesh = buildMesh(d);
      // Collected and asserted once per layout: an expect per rank costs more than the mesh itself.
      const inside = mesh.ranks.every(({ coords }) => AXES.every((a) => coords[a] >= 0 && coords[a] < d[a]));
      expect(inside).toBe(true);
      expect(mesh.ranks.map(({ coords }) => rankAt(mesh, coords))).toEqual(range(0, mesh.world));
    }
  });

  it("gives every rank neighbours that close its group's ring", () => {
    for (const d of layouts.filter((x) => AXES.reduce((p, a) => p * x[a], 1) <= 16)) {
      const mesh = buildMesh(d);
      for (const key of [...AXES, "sequence"] as GroupAxis[]) {
        for (const { rank } of mesh.ranks) {
          const group = groupOf(mesh, key, rank);
          const { prev, next } = peers(mesh, key, rank);
          expect(peers(mesh, key, next).prev).toBe(rank);
          expect(peers(mesh, key, prev).next).toBe(rank);
          // Walking `next` from a rank visits its whole group before coming back.
          const seen = [rank];
          for (let at = next; at !== rank; at = peers(mesh, key, at).next) seen.push(at);
          expect(seen.sort((a, b) => a - b)).toEqual(group);
        }
      }
    }
  });
});

describe("xDiT worked examples (xdit.md §3.2), pipefusion in xDiT's pp slot", () => {
  it("case A: 16 ranks, dp 2 x cfg 2 x pp 2 x ulysses 2", () => {
    const mesh = buildMesh(degrees({ dp: 2, cfg: 2, pipefusion: 2, ulysses: 2 }));
    expect(mesh.world).toBe(16);
    // xDiT's sp row: here sp is Ulysses alone.
    expect(mesh.groups.ulysses).toEqual(range(0, 8).map((i) => [2 * i, 2 * i + 1]));
    expect(mesh.groups.sequence).toBeUndefined();
    expect(mesh.ranks.map((r) => groupOf(mesh, "sequence", r.rank))).toEqual(mesh.ranks.map((r) => groupOf(mesh, "ulysses", r.rank)));
    expect(mesh.groups.pipefusion).toEqual([[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]]);
    expect(mesh.groups.cfg).toEqual([[0, 4], [1, 5], [2, 6], [3, 7], [8, 12], [9, 13], [10, 14], [11, 15]]);
    expect(mesh.groups.dp).toEqual(range(0, 8).map((i) => [i, i + 8]));
    expect(Object.keys(mesh.groups)).toEqual(["ulysses", "pipefusion", "cfg", "dp"]);
  });

  it("case B: 16 ranks, sp 4 (ulysses 2 x ring 2) x pp 2 x cfg 2", () => {
    const mesh = buildMesh(degrees({ cfg: 2, pipefusion: 2, ring: 2, ulysses: 2 }));
    expect(mesh.world).toBe(16);
    expect(mesh.groups.sequence).toEqual([range(0, 4), range(4, 8), range(8, 12), range(12, 16)]);
    expect(mesh.groups.ulysses).toEqual(range(0, 8).map((i) => [2 * i, 2 * i + 1]));
    expect(mesh.groups.ring).toEqual([[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9, 11], [12, 14], [13, 15]]);
    expect(mesh.groups.pipefusion).toEqual([[0, 4], [1, 5], [2, 6], [3, 7], [8, 12], [9, 13], [10, 14], [11, 15]]);
    expect(mesh.groups.cfg).toEqual(range(0, 8).map((i) => [i, i + 8]));
    expect(mesh.groups.dp).toBeUndefined();
  });
});

describe("axes and coordinates", () => {
  it("lists all six axes innermost first with strides from the inner degrees", () => {
    const mesh = buildMesh(degrees({ dp: 3, cfg: 2, pipefusion: 2, ring: 2, ulysses: 4 }));
    expect(MESH_AXES).toEqual(["dsp", "ulysses", "ring", "pipefusion", "cfg", "dp"]);
    expect(mesh.axes).toEqual([
      { name: "dsp", degree: 1, stride: 1 },
      { name: "ulysses", degree: 4, stride: 1 },
      { name: "ring", degree: 2, stride: 4 },
      { name: "pipefusion", degree: 2, stride: 8 },
      { name: "cfg", degree: 2, stride: 16 },
      { name: "dp", degree: 3, stride: 32 },
    ]);
    expect(mesh.ranks[45]!.coords).toEqual({ dp: 1, cfg: 0, pipefusion: 1, ring: 1, ulysses: 1, dsp: 0 });
    expect(rankAt(mesh, { dp: 1, pipefusion: 1, ring: 1, ulysses: 1 })).toBe(45);
  });

  it("puts dsp in the innermost slot", () => {
    const mesh = buildMesh(degrees({ cfg: 2, dsp: 4 }));
    expect(mesh.axes.find((a) => a.name === "dsp")).toEqual({ name: "dsp", degree: 4, stride: 1 });
    expect(mesh.groups.dsp).toEqual([range(0, 4), range(4, 8)]);
    expect(mesh.groups.cfg).toEqual([[0, 4], [1, 5], [2, 6], [3, 7]]);
    expect(groupOf(mesh, "sequence", 6)).toEqual(range(4, 8));
  });

  it("builds a one-rank mesh with no communicators", () => {
    const mesh = buildMesh(degrees({}));
    expect(mesh.world).toBe(1);
    expect(mesh.groups).toEqual({});
    expect(mesh.intraNode).toEqual({});
    expect(mesh.ranks).toEqual([{ rank: 0, coords: degrees({ dp: 0, cfg: 0, pipefusion: 0, ring: 0, ulysses: 0, dsp: 0 }), node: 0, localRank: 0 }]);
    expect(groupOf(mesh, "dp", 0)).toEqual([0]);
    expect(peers(mesh, "ring", 0)).toEqual({ prev: 0, next: 0 });
  });
});

describe("peers", () => {
  it("follow the coordinate order of the group and wrap around", () => {
    const mesh = buildMesh(degrees({ pipefusion: 4, ulysses: 2 }));
    expect(groupOf(mesh, "pipefusion", 3)).toEqual([1, 3, 5, 7]);
    expect(peers(mesh, "pipefusion", 1)).toEqual({ prev: 7, next: 3 });
    expect(peers(mesh, "pipefusion", 7)).toEqual({ prev: 5, next: 1 });
    expect(peers(mesh, "ulysses", 4)).toEqual({ prev: 5, next: 5 });
  });

  it("walk a USP sequence block in Ulysses-then-ring order", () => {
    const mesh = buildMesh(degrees({ ring: 2, ulysses: 2, dp: 2 }));
    expect(groupOf(mesh, "sequence", 5)).toEqual([4, 5, 6, 7]);
    expect(peers(mesh, "sequence", 7)).toEqual({ prev: 6, next: 4 });
    expect(peers(mesh, "ring", 5)).toEqual({ prev: 7, next: 7 });
  });
});

describe("nodes and intraNode", () => {
  it("keeps dsp 8 inside one node of 8", () => {
    const mesh = buildMesh(degrees({ dsp: 8 }), { ranksPerNode: 8 });
    expect(mesh.nodes).toBe(1);
    expect(mesh.intraNode).toEqual({ dsp: true });
  });

  it("spans nodes with cfg 2 x dsp 8 on 16 ranks, keeping dsp inside each node", () => {
    const mesh = buildMesh(degrees({ cfg: 2, dsp: 8 }), { ranksPerNode: 8 });
    expect(mesh.nodes).toBe(2);
    expect(mesh.intraNode).toEqual({ dsp: true, cfg: false });
    expect(mesh.ranks.map((r) => r.node)).toEqual([...Array(8).fill(0), ...Array(8).fill(1)]);
    expect(mesh.ranks.map((r) => r.localRank)).toEqual([...range(0, 8), ...range(0, 8)]);
  });

  it("treats the world as one node when ranksPerNode is not given", () => {
    const mesh = buildMesh(degrees({ cfg: 2, dsp: 8 }));
    expect(mesh.ranksPerNode).toBe(16);
    expect(mesh.nodes).toBe(1);
    expect(mesh.intraNode).toEqual({ dsp: true, cfg: true });
    expect(mesh.ranks.map((r) => r.localRank)).toEqual(range(0, 16));
  });

  it("splits a USP block across nodes only where ranksPerNode cuts through it", () => {
    const mesh = buildMesh(degrees({ ring: 4, ulysses: 2 }), { ranksPerNode: 4 });
    expect(mesh.intraNode).toEqual({ ulysses: true, ring: false, sequence: false });
  });

  it("fills a partial last node when ranksPerNode does not divide the world", () => {
    const mesh = buildMesh(degrees({ dp: 3, ulysses: 4 }), { ranksPerNode: 8 });
    expect(mesh.nodes).toBe(2);
    expect(mesh.ranks.map((r) => r.node)).toEqual([...Array(8).fill(0), ...Array(4).fill(1)]);
    expect(mesh.intraNode).toEqual({ ulysses: true, dp: false });
  });
});

describe("output", () => {
  const input = degrees({ dp: 2, cfg: 2, pipefusion: 2, ring: 2, ulysses: 2 });

  it("is deterministic and JSON-clean", () => {
    const first = JSON.stringify(buildMesh(input, { ranksPerNode: 8 }));
    expect(JSON.stringify(buildMesh({ ...input }, { ranksPerNode: 8 }))).toBe(first);
    expect(JSON.parse(first)).toEqual(buildMesh(input, { ranksPerNode: 8 }));
  });

  it("is frozen all the way down", () => {
    const mesh = buildMesh(input);
    const unfrozen: string[] = [];
    const visit = (value: unknown, path: string): void => {
      if (typeof value !== "object" || value === null) return;
      if (!Object.isFrozen(value)) unfrozen.push(path);
      for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`);
    };
    visit(mesh, "mesh");
    expect(unfrozen).toEqual([]);
    expect(() => (mesh.groups.dp as number[][]).push([0])).toThrow(TypeError);
    expect(Object.isFrozen(groupOf(mesh, "ring", 3))).toBe(true);
  });
});

describe("preconditions", () => {
  it("rejects dsp combined with ulysses or ring", () => {
    expect(() => buildMesh(degrees({ dsp: 2, ulysses: 2 }))).toThrow(/dsp 2 cannot combine/);
    expect(() => buildMesh(degrees({ dsp: 2, ring: 2 }))).toThrow(RangeError);
  });

  it("rejects degrees and ranksPerNode that are not positive integers", () => {
    expect(() => buildMesh(degrees({ cfg: 0 }))).toThrow(/degree of cfg/);
    expect(() => buildMesh(degrees({ ring: 1.5 }))).toThrow(/degree of ring/);
    expect(() => buildMesh(degrees({ dp: 2 }), { ranksPerNode: 0 })).toThrow(/ranksPerNode/);
  });

  it("rejects ranks and coordinates outside the mesh", () => {
    const mesh = buildMesh(degrees({ cfg: 2, ulysses: 2 }));
    expect(() => groupOf(mesh, "cfg", 4)).toThrow(/rank 4 is outside/);
    expect(() => peers(mesh, "ulysses", -1)).toThrow(RangeError);
    expect(() => rankAt(mesh, { cfg: 2 })).toThrow(/coordinate 2 on cfg/);
  });
});
