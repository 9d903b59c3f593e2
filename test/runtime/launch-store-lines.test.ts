/**
 * runtime/launch/store.ts: the rendezvous store's JSON lines when a line is tens of MB (a decoding rank's report
 * carries its video as 8-bit RGB in base64).
 *
 * - jsonLineReader: a 16 MB line fed in 512-byte chunks comes out whole and parsed, in well under a second. The
 *   reader it replaced appended each chunk to one string and searched all of it for `\n` after every chunk:
 *   quadratic (measured on 512-byte chunks: 1 MB 0.7 s, 2 MB 2.8 s, 4 MB 11 s, so 16 MB about 3 minutes), while
 *   this reader takes about 0.05 s; the bound of 5 s says it is linear. Multi-byte UTF-8 characters split over
 *   chunks decode whole; several lines in one chunk, blank lines and lines that are not JSON objects are handled
 *   as before (an array is passed on as a message, as the old reader did).
 * - encodeVideo / decodeVideo: RGB samples on the wire and back, and the shape checked against the bytes.
 * - a report with a 1.6 MB video (2.1 MB of base64) through a real store (hostStore, joinRendezvous): the host
 *   gets it byte for byte.
 */
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import type { RgbVideo } from "../../runtime/media/frames.js";
import { decodeVideo, encodeVideo, hostStore, joinRendezvous, jsonLineReader, type RankReport } from "../../runtime/launch/store.js";

/** Feeds `bytes` to a fresh reader in chunks of `size`; returns what it gave. */
function readChunks(bytes: Uint8Array, size: number): { messages: Record<string, unknown>[]; bad: string[]; seconds: number } {
  const messages: Record<string, unknown>[] = [];
  const bad: string[] = [];
  const read = jsonLineReader(
    (m) => messages.push(m),
    (line) => bad.push(line),
  );
  const start = performance.now();
  for (let at = 0; at < bytes.length; at += size) read(bytes.subarray(at, Math.min(at + size, bytes.length)));
  return { messages, bad, seconds: (performance.now() - start) / 1000 };
}

/** A seeded RGB video of `samples` × `frames` frames of width × height. */
function rgbSamples(samples: number, frames: number, width: number, height: number, seed: number): RgbVideo[] {
  let s = seed >>> 0;
  return Array.from({ length: samples }, () => ({
    width,
    height,
    image: false,
    frames: Array.from({ length: frames }, () =>
      Uint8Array.from({ length: width * height * 3 }, () => {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        return s >>> 24;
      }),
    ),
  }));
}

describe("jsonLineReader", () => {
  it("reads a 16 MB line fed in 512-byte chunks whole, in time linear in its length", () => {
    const payload = "A/b+9".repeat(16 * 1024 * 1024 / 5);
    const text = `${JSON.stringify({ type: "done", report: { rank: 1, data: payload } })}\n${JSON.stringify({ type: "ack" })}\n`;
    const bytes = Buffer.from(text, "utf8");
    expect(bytes.length).toBeGreaterThan(16_000_000);
    const { messages, bad, seconds } = readChunks(bytes, 512);
    expect(bad).toEqual([]);
    expect(messages).toHaveLength(2);
    expect((messages[0]!["report"] as { data: string }).data === payload).toBe(true);
    expect(messages[1]).toEqual({ type: "ack" });
    console.log(`16 MB line in 512-byte chunks: ${seconds.toFixed(3)} s`);
    expect(seconds).toBeLessThan(5);
  });

  it("decodes multi-byte characters split over chunks, several lines in one chunk, and passes on what is not an object", () => {
    const lines = [JSON.stringify({ type: "failed", message: "Größe ≠ 漢字 🎞" }), "", "not json", "[1, 2]", "42", JSON.stringify({ type: "progress", step: 3 })];
    const bytes = Buffer.from(`${lines.join("\n")}\n{"type":"pend`, "utf8");
    for (const size of [1, 2, 3, 7, bytes.length]) {
      const { messages, bad } = readChunks(bytes, size);
      expect(messages, `chunks of ${size}`).toEqual([{ type: "failed", message: "Größe ≠ 漢字 🎞" }, [1, 2], { type: "progress", step: 3 }]);
      expect(bad, `chunks of ${size}`).toEqual(["not json", "42"]);
    }
  });
});

describe("a video on the wire", () => {
  it("comes back as the same samples, frames and bytes", () => {
    const videos = rgbSamples(2, 3, 5, 4, 3);
    const wire = encodeVideo(1, 2, videos);
    expect(wire).toMatchObject({ dp: 1, firstSample: 2, shape: [2, 3, 4, 5, 3], image: false });
    const back = decodeVideo(wire);
    expect(back.map((v) => [v.width, v.height, v.image, v.frames.length])).toEqual([
      [5, 4, false, 3],
      [5, 4, false, 3],
    ]);
    for (let s = 0; s < 2; s++) for (let f = 0; f < 3; f++) expect(Buffer.from(back[s]!.frames[f]!).equals(Buffer.from(videos[s]!.frames[f]!))).toBe(true);
  });

  it("refuses samples of different sizes, and bytes that are not the shape's", () => {
    expect(() => encodeVideo(0, 0, [...rgbSamples(1, 2, 4, 4, 1), ...rgbSamples(1, 2, 4, 2, 1)])).toThrow(/differ in size/);
    expect(() => encodeVideo(0, 0, [])).toThrow(/at least one sample/);
    const wire = encodeVideo(0, 0, rgbSamples(1, 2, 4, 4, 1));
    expect(() => decodeVideo({ ...wire, shape: [1, 3, 4, 4, 3] })).toThrow(/is 144 bytes, but 96 came/);
    expect(() => decodeVideo({ ...wire, shape: [1, 2, 4, 4] })).toThrow(/\[samples, frames, height, width, 3\]/);
  });
});

describe("the store", () => {
  it("carries a rank's report with a 1.6 MB video to the host byte for byte", async () => {
    const videos = rgbSamples(1, 8, 256, 256, 9);
    const received: RankReport[] = [];
    const host = await hostStore({ host: "127.0.0.1", port: 0 }, { world: 1, timeoutMs: 10_000, onReport: (r) => received.push(r) });
    try {
      const client = await joinRendezvous({ host: "127.0.0.1", port: host.port }, { rank: 0, host: "127.0.0.1", port: 1 }, 10_000);
      const report: RankReport = {
        rank: 0,
        video: encodeVideo(0, 0, videos),
        timings: { load: 0, bind: 0, inputs: 0, setup: 0, steps: 0, outputs: 0, decode: 0.5, perStep: [] },
        threads: 1,
        arenaBytes: 0,
        weightBytes: 0,
        hostname: "h",
        seconds: 1,
      };
      expect(report.video!.data.length).toBeGreaterThan(2_000_000);
      await client.done(report);
      client.close();
      const reports = await host.reports;
      expect(received).toHaveLength(1);
      expect(reports[0]!.timings.decode).toBe(0.5);
      const back = decodeVideo(reports[0]!.video!);
      expect(back).toHaveLength(1);
      for (let f = 0; f < 8; f++) expect(Buffer.from(back[0]!.frames[f]!).equals(Buffer.from(videos[0]!.frames[f]!))).toBe(true);
    } finally {
      await host.close();
    }
  });
});
