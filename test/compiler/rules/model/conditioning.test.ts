import { describe, expect, it } from "vitest";
import { TextEncoderRule } from "../../../../compiler/check/rules/model/TextEncoderRule.js";
import { expectCodeAtMarkers, validateMarked } from "../../../helpers/validate.js";
import { dedent, expectRuleAtMarkers } from "./pipelines.js";

const ditHead = dedent(`
  version: 1
  name: t
  model: { family: dit, variant: DiT-XL/2, checkpoint: random }
  image: { height: 256, width: 256 }
  scheduler: { kind: iddpm, steps: 250 }
`);
const pixartHead = dedent(`
  version: 1
  name: t
  model: { family: pixart, variant: PixArt-XL/2, checkpoint: random }
  image: { height: 512, width: 512 }
  scheduler: { kind: dpm-solver, steps: 20 }
`);
const latteHead = (variant: string) =>
  dedent(`
    version: 1
    name: t
    model: { family: latte, variant: ${variant}, checkpoint: random }
    video: { frames: 16, height: 256, width: 256 }
    scheduler: { kind: iddpm, steps: 250 }
  `);

describe("ConditioningKindRule (OD3307)", () => {
  it("underlines the family when a text model has no conditioning at all", () => {
    const r = validateMarked(pixartHead.replace("family: pixart", "family: <|pixart|>"));
    const [d] = expectCodeAtMarkers(r, "OD3307");
    expect(d!.message).toContain("neither `prompts` nor an `embeddings` file");
    expect(d!.hint).toContain("prompts: [");
  });

  it("underlines the conditioning key when a text model's conditioning has no text", () => {
    const r = validateMarked(pixartHead + "<|conditioning|>: { text_encoder: t5-v1_1-xxl }\n");
    expectCodeAtMarkers(r, "OD3307");
  });

  it("underlines embeddings given together with prompts", () => {
    const r = validateMarked(pixartHead + "conditioning: { prompts: [a cat], <|embeddings|>: y.safetensors }\n");
    const [d] = expectCodeAtMarkers(r, "OD3307");
    expect(d!.hint).toContain("Remove `embeddings`");
  });

  it("underlines labels on a text model", () => {
    const r = validateMarked(pixartHead + "conditioning: { prompts: [a cat], <|labels|>: [3] }\n");
    const [d] = expectCodeAtMarkers(r, "OD3307");
    expect(d!.message).toContain("conditioned on text");
  });

  it("underlines prompts, embeddings and negative prompts on a class model, without also asking for labels", () => {
    const r = validateMarked(
      ditHead + "conditioning:\n  <|prompts|>: [a cat]\n  <|embeddings|>: y.safetensors\n  <|negative_prompt|>: blurry\n",
    );
    const found = expectCodeAtMarkers(r, "OD3307");
    expect(found[0]!.hint).toBe("Replace `prompts` with class labels, such as `labels: [0]`.");
  });

  it("underlines the family when a class model has no labels", () => {
    const r = validateMarked(ditHead.replace("family: dit", "family: <|dit|>"));
    const [d] = expectCodeAtMarkers(r, "OD3307");
    expect(d!.hint).toBe("Add `conditioning: { labels: [0] }` (one class id from 0 to 999 per sample).");
  });

  it("lets a class-or-none model run without labels", () => {
    const r = validateMarked(latteHead("Latte-XL/2"));
    expectCodeAtMarkers(r, "OD3307");
  });

  it("underlines labels on an unconditional checkpoint and names the labelled variant", () => {
    const r = validateMarked(latteHead("Latte-XL/2-uncond") + "conditioning: { <|labels|>: [3] }\n");
    const [d] = expectCodeAtMarkers(r, "OD3307");
    expect(d!.hint).toBe("Remove `labels`, or use the class-conditional `variant: Latte-XL/2`.");
  });

  it("accepts prompts on a text model and labels on a class model", () => {
    expectCodeAtMarkers(validateMarked(pixartHead + "conditioning: { prompts: [a cat] }\n"), "OD3307");
    expectCodeAtMarkers(validateMarked(pixartHead + "conditioning: { embeddings: y.safetensors }\n"), "OD3307");
    expectCodeAtMarkers(validateMarked(ditHead + "conditioning: { labels: [207, 360] }\n"), "OD3307");
  });
});

describe("ClassLabelRangeRule (OD3308)", () => {
  it("underlines each label at or above the number of classes", () => {
    const r = validateMarked(ditHead + "conditioning: { labels: [207, <|1000|>, 3, <|5000|>] }\n");
    const [d] = expectCodeAtMarkers(r, "OD3308");
    expect(d!.message).toContain("`conditioning.labels[1]`");
    expect(d!.message).toContain("1000 is the null class");
    expect(d!.hint).toBe("Use a label from 0 to 999, such as 999.");
  });

  it("uses the variant's class count (Latte UCF101 has 101)", () => {
    expectCodeAtMarkers(validateMarked(latteHead("Latte-XL/2") + "conditioning:\n  labels:\n    - 100\n    - <|101|>\n"), "OD3308");
  });

  it("uses explicit num_classes", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 64, depth: 2, heads: 4, num_classes: 10 }
          checkpoint: random
        conditioning: { labels: [9, <|10|>] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    expectCodeAtMarkers(r, "OD3308");
  });
});

describe("TextEncoderRule (OD3309)", () => {
  it("warns that a negative prompt is ignored by a family that guides against its stored null caption", () => {
    const r = validateMarked(pixartHead + "conditioning:\n  prompts: [a cat]\n  <|negative_prompt|>: blurry\n");
    const [d] = expectCodeAtMarkers(r, "OD3309");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("stored null caption (`y_embedding`)");
    expect(d!.hint).toBe("Remove `negative_prompt`.");
  });

  it("warns that a negative prompt is unused when guidance runs no unconditional branch", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: opensora-plan, variant: LatteT2V-XL/122, checkpoint: random }
        conditioning: { prompts: [a cat], <|negative_prompt|>: blurry }
        video: { frames: 65, height: 512, width: 512 }
        scheduler: { kind: ddim, steps: 50, guidance: 1 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3309");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("`scheduler.guidance` is 1");
  });

  it("accepts a negative prompt where guidance encodes it", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: opensora-plan, variant: LatteT2V-XL/122, checkpoint: random }
        conditioning: { prompts: [a cat], negative_prompt: blurry }
        video: { frames: 65, height: 512, width: 512 }
        scheduler: { kind: ddim, steps: 50 }
      `),
    );
    expectCodeAtMarkers(r, "OD3309");
  });

  it("underlines a text encoder on a family without text", () => {
    const r = validateMarked(ditHead + "conditioning: { labels: [1], <|text_encoder|>: t5-v1_1-xxl }\n");
    const [d] = expectCodeAtMarkers(r, "OD3309");
    expect(d!.severity).toBe("error");
    expect(d!.hint).toBe("Remove `text_encoder`.");
  });

  it("underlines the encoder when a variant reads caption features of another width", () => {
    const reports = expectRuleAtMarkers(
      TextEncoderRule,
      pixartHead + "conditioning: { prompts: [a cat], text_encoder: <|t5-v1_1-xxl|> }\n",
      (facts) => ({ ...facts, hyper: { ...facts.hyper!, captionChannels: 1024 } }),
      "OD3309",
    );
    expect(reports[0]!.message).toContain("into 4096 channels per token");
    expect(reports[0]!.message).toContain("reads 1024-channel caption features");
  });

  describe("on the tiny variants, whose 32-channel, 8-token text no encoder produces", () => {
    const tinyHead = (family: string, variant: string, size: string, scheduler: string) =>
      dedent(`
        version: 1
        name: t
        model: { family: ${family}, variant: ${variant}, checkpoint: random }
        ${size}
        scheduler: ${scheduler}
      `);
    const pixartTiny = tinyHead("pixart", "pixart-tiny", "image: { height: 64, width: 64 }", "{ kind: dpm-solver, steps: 20 }");
    const latteT2VTiny = tinyHead("latte-t2v", "latte-t2v-tiny", "video: { frames: 4, height: 64, width: 64 }", "{ kind: ddim, steps: 5, guidance: 7.5 }");

    it("refuses prompts for T5-XXL and says to give embeddings of the variant's size", () => {
      const r = validateMarked(pixartTiny + "conditioning:\n  <|prompts|>: [a cat]\n");
      const [d] = expectCodeAtMarkers(r, "OD3309");
      expect(d!.severity).toBe("error");
      expect(d!.message).toBe(
        "The prompts are encoded by `t5-v1_1-xxl` into 4096 channels per token, but PixArt-α (PixArt-alpha/PixArt-alpha), variant `pixart-tiny`, reads 32-channel caption features.",
      );
      expect(d!.hint).toBe(
        "Replace `prompts` with precomputed features, `conditioning: { embeddings: FILE }`: a safetensors file holding `y` [1, 8, 32] and `mask` [1, 8] of one sample.",
      );
    });

    it("underlines an explicit encoder, and nothing but it, on every text family's tiny variant", () => {
      for (const [family, size] of [
        ["pixart", "image: { height: 64, width: 64 }"],
        ["stdit", "video: { frames: 4, height: 64, width: 64 }"],
        ["stdit3", "video: { frames: 17, height: 64, width: 64 }"],
        ["latte-t2v", "video: { frames: 4, height: 64, width: 64 }"],
        ["opensora-plan", "video: { frames: 5, height: 64, width: 64 }"],
      ] as const) {
        const head = tinyHead(family, `${family}-tiny`, size, `{ kind: ${family === "stdit3" ? "rflow" : "ddim"}, steps: 5 }`);
        const r = validateMarked(head + "conditioning: { prompts: [a cat], text_encoder: <|t5-v1_1-xxl|> }\n");
        const [d] = expectCodeAtMarkers(r, "OD3309");
        expect(d!.message, family).toContain("reads 32-channel caption features");
        expect(r.diagnostics.filter((x) => x.severity === "error").map((x) => x.code), family).toEqual(["OD3309"]);
      }
    });

    it("accepts their embeddings with no diagnostic at all", () => {
      expect(validateMarked(pixartTiny + "conditioning: { embeddings: y.safetensors }\n", "/p/t.yaml", { fileExists: () => true }).diagnostics).toEqual([]);
      expect(validateMarked(latteT2VTiny + "conditioning: { embeddings: y.safetensors }\n", "/p/t.yaml", { fileExists: () => true }).diagnostics).toEqual([]);
    });

    it("refuses a negative prompt the guidance would encode with T5-XXL next to their embeddings", () => {
      const r = validateMarked(latteT2VTiny + "conditioning:\n  embeddings: y.safetensors\n  <|negative_prompt|>: blurry\n");
      const [d] = expectCodeAtMarkers(r, "OD3309");
      expect(d!.severity).toBe("error");
      expect(d!.message).toContain("The negative prompt is encoded by `t5-v1_1-xxl` into 4096 channels per token");
      expect(d!.hint).toBe("Remove `negative_prompt` and store its precomputed features as `negative_y` [1, 8, 32] in the `embeddings` file.");
    });

    it("leaves a negative prompt next to embeddings alone where the encoder fits (Latte-1 reads 4096 channels)", () => {
      const r = validateMarked(latteT2VTiny.replace("latte-t2v-tiny", "Latte-1") + "conditioning: { embeddings: y.safetensors, negative_prompt: blurry }\n");
      expectCodeAtMarkers(r, "OD3309");
    });
  });

  it("underlines the prompts key when the default encoder does not fit", () => {
    expectRuleAtMarkers(
      TextEncoderRule,
      pixartHead + "conditioning:\n  <|prompts|>: [a cat]\n",
      (facts) => ({ ...facts, hyper: { ...facts.hyper!, captionChannels: 1024 } }),
      "OD3309",
    );
  });
});
