/**
 * Builds a plan's program: declares buffers with their local shapes and roles, checks every weight an op reads
 * against the family's checkpoint table (name and shape), and numbers the ops. Arena offsets are assigned later
 * by the memory planner (plan/memory.ts), from the buffers' roles and the ops' reads and writes.
 */
import type { WeightInfo } from "../../models/types.js";
import type { Op, OpInit } from "../../plan/ops.js";
import type { BufferRole, PlanDtype } from "../../plan/types.js";

export interface DeclaredBuffer {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: PlanDtype;
  readonly role: BufferRole;
}

export class ProgramBuilder {
  private readonly buffers = new Map<string, DeclaredBuffer>();
  private readonly weightTable: ReadonlyMap<string, WeightInfo>;
  private readonly weightsRead = new Set<string>();
  private readonly setupOps: Op[] = [];
  private readonly stepOps: Op[] = [];

  constructor(
    weights: readonly WeightInfo[],
    /** Storage type of activations and weights (the latent and solver state are always f32). */
    readonly dtype: PlanDtype,
  ) {
    this.weightTable = new Map(weights.map((w) => [w.name, w]));
  }

  /** Declares a buffer; declaring a name twice with another shape is a lowering bug. */
  buffer(name: string, shape: readonly number[], role: BufferRole, dtype: PlanDtype = this.dtype): string {
    const old = this.buffers.get(name);
    if (old) {
      if (old.shape.join("x") !== shape.join("x") || old.role !== role) {
        throw new Error(`buffer ${name} declared twice: [${old.shape.join(", ")}] ${old.role} and [${shape.join(", ")}] ${role}`);
      }
      return name;
    }
    if (shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`buffer ${name} has a bad shape [${shape.join(", ")}]`);
    this.buffers.set(name, { name, shape: [...shape], dtype, role });
    return name;
  }

  /** A within-step activation. */
  temp(name: string, shape: readonly number[], dtype: PlanDtype = this.dtype): string {
    return this.buffer(name, shape, "activation", dtype);
  }

  /** A checkpoint tensor by its official name; its shape must match the family's table. */
  weight(name: string, shape?: readonly number[]): string {
    const w = this.weightTable.get(name);
    if (!w) throw new Error(`lowering reads ${name}, which the family's checkpoint table does not list`);
    if (shape && w.shape.join("x") !== shape.join("x")) {
      throw new Error(`lowering reads ${name} as [${shape.join(", ")}], but the checkpoint holds [${w.shape.join(", ")}]`);
    }
    this.weightsRead.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.buffers.has(name);
  }

  shapeOf(name: string): readonly number[] {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`unknown buffer ${name}`);
    return b.shape;
  }

  setup(op: OpInit): void {
    this.setupOps.push({ ...op, id: this.setupOps.length } as Op);
  }

  step(op: OpInit): void {
    this.stepOps.push({ ...op, id: this.stepOps.length } as Op);
  }

  finish(): { buffers: DeclaredBuffer[]; setup: Op[]; step: Op[]; weightsRead: string[] } {
    const order = [...this.weightTable.keys()];
    return {
      buffers: [...this.buffers.values()],
      setup: this.setupOps,
      step: this.stepOps,
      weightsRead: order.filter((n) => this.weightsRead.has(n)),
    };
  }
}
