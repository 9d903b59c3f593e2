/** Every diagnostic of the YAML front end, each at its exact span (marked inline with `<|...|>`). */
import { describe, expect, test } from "vitest";
import { codesOf, expectCodeAt, parseMarked, parseText } from "./parse-helpers.js";

describe("OD1001 yaml-syntax", () => {
  test("bad indentation names the parser's code", () => {
    const [d] = expectCodeAt("a:\n  b: 1\n<| |>c: 2\n", "OD1001");
    expect(d!.message).toContain("BAD_INDENT");
    expect(d!.severity).toBe("error");
    expect(d!.hint).toBeDefined();
  });

  test("a tab used for indentation", () => {
    const [d] = expectCodeAt("a:\n<|\t|>b: 1\n", "OD1001");
    expect(d!.message).toContain("TAB_AS_INDENT");
  });

  test("an unclosed quote is reported where the text ends", () => {
    const [d] = expectCodeAt("a: 'abc\n<||>", "OD1001");
    expect(d!.message).toMatch(/not closed.*MISSING_CHAR/);
  });

  test("a bad escape in a double-quoted string", () => {
    const [d] = expectCodeAt('a: "<|\\|>q"\n', "OD1001");
    expect(d!.message).toContain("BAD_DQ_ESCAPE");
  });

  test("a value that cannot start unquoted", () => {
    const [d] = expectCodeAt("a: <|@|>x\n", "OD1001");
    expect(d!.message).toContain("BAD_SCALAR_START");
  });

  test("a custom tag is not supported", () => {
    const [d] = expectCodeAt("model: <|!custom|> dit\n", "OD1001");
    expect(d!.message).toContain("`!custom`");
  });

  test("tags for non-JSON values are not supported either", () => {
    expectCodeAt("a: <|!!binary|> aGk=\nb: <|!!set|> {x}\nc: <|!!timestamp|> 2024-01-01\n", "OD1001");
  });

  test("a core tag on a value that does not fit it", () => {
    const [d] = expectCodeAt("steps: <|!!int|> fifty\n", "OD1001");
    expect(d!.message).toContain("`!!int`");
  });

  test("core tags that fit are fine", () => {
    const parsed = parseText("a: !!str 12\nb: !!int 3\nc: !!float 1.5\n");
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.tree?.value).toEqual({ a: "12", b: 3, c: 1.5 });
  });

  test("an alias to an anchor never defined", () => {
    const [d] = expectCodeAt("a: <|*missing|>\n", "OD1001");
    expect(d!.message).toContain("`*missing`");
  });

  test("an alias inside the node it names", () => {
    const parsed = parseMarked("a: &loop [1, <|*loop|>]\n");
    expect(parsed.diagnostics.filter((d) => d.code === "OD1001").map((d) => [d.start.offset, d.end.offset])).toEqual([
      [parsed.ranges[0]!.start, parsed.ranges[0]!.end],
    ]);
    expect(parsed.tree?.value).toEqual({ a: [1, null] });
  });

  test("more than 64 levels of nesting", () => {
    const deep = `${"[".repeat(64)}<|[|>${"]".repeat(65)}\n`;
    const [d] = expectCodeAt(deep, "OD1001");
    expect(d!.message).toContain("nested too deeply");
    expect(parseText(`${"[".repeat(64)}${"]".repeat(64)}\n`).diagnostics).toEqual([]);
  });

  test("deep block nesting too", () => {
    const lines = Array.from({ length: 70 }, (_, i) => `${" ".repeat(i)}${i === 64 ? "<|k|>" : "k"}:`);
    expectCodeAt(`${lines.join("\n")} 1\n`, "OD1001");
  });

  test("all syntax errors are reported at once", () => {
    const parsed = parseMarked("a: <|!custom|> x\nb: <|*nowhere|>\nc: 'ok'\nd: <|@|>y\n");
    expect(parsed.diagnostics.map((d) => [d.code, d.start.offset, d.end.offset])).toEqual(
      parsed.ranges.map((r) => ["OD1001", r.start, r.end]),
    );
  });
});

describe("OD1002 yaml-duplicate-key", () => {
  test("reported on the second key, naming the key and the line of the first", () => {
    const [d] = expectCodeAt("steps: 50\nmodel: dit\n<|steps|>: 20\n", "OD1002");
    expect(d!.message).toContain("`steps`");
    expect(d!.message).toContain("line 1");
    expect(d!.related).toHaveLength(1);
    expect(d!.related![0]!.start.offset).toBe(0);
    expect(d!.related![0]!.end.offset).toBe(5);
  });

  test("in nested and flow mappings too", () => {
    expectCodeAt("a:\n  x: 1\n  <|x|>: 2\nb: {y: 1, <|y|>: 2}\n", "OD1002");
  });

  test("the first value is kept", () => {
    expect(parseText("a: 1\na: 2\n").tree?.value).toEqual({ a: 1 });
  });
});

describe("OD1003 yaml-alias-limit", () => {
  test("a billion-laughs document is refused quickly, at the alias that goes past the limit", () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const names = "abcdefghi";
    for (let i = 1; i < names.length; i++) {
      const aliases = Array.from({ length: 9 }, (_, k) => (i === 2 && k === 4 ? `<|*${names[i - 1]}|>` : `*${names[i - 1]}`));
      lines.push(`${names[i]}: &${names[i]} [${aliases.join(",")}]`);
    }
    const started = performance.now();
    const [d] = expectCodeAt(`${lines.join("\n")}\n`, "OD1003");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(d!.message).toContain("50");
  });

  test("50 alias uses are fine, the 51st is not", () => {
    const uses = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: *v`);
    expect(codesOf(parseText(["v: &v 1", ...uses(50)].join("\n")))).toEqual([]);
    const lines = ["v: &v 1", ...uses(50), "k50: <|*v|>"];
    expectCodeAt(lines.join("\n"), "OD1003");
  });
});

describe("OD1004 yaml-multiple-documents", () => {
  test("reported at the second document's marker", () => {
    const parsed = parseMarked("a: 1\n<|---|>\nb: 2\n---\nc: 3\n");
    expect(parsed.diagnostics.map((d) => [d.code, d.start.offset, d.end.offset])).toEqual([
      ["OD1004", parsed.ranges[0]!.start, parsed.ranges[0]!.end],
    ]);
    expect(parsed.tree?.value).toEqual({ a: 1 });
  });

  test("a document after `...` without a marker is reported at its first line", () => {
    expectCodeAt("a: 1\n...\n<|b: 2|>\n", "OD1004");
  });
});

describe("OD1005 yaml-ambiguous-scalar", () => {
  test.each([
    ["yes", "boolean true"],
    ["No", "boolean false"],
    ["on", "boolean true"],
    ["OFF", "boolean false"],
    ["y", "boolean true"],
    ["n", "boolean false"],
    ["1e-4", 'string "1e-4"'],
    ["5e3", 'string "5e3"'],
    ["010", "octal number 8"],
    ["1:30", "base 60 number 90"],
    ["0b1010", "binary number 10"],
    ["0o17", 'string "0o17"'],
    ["1_000", "number 1000"],
    ["2024-01-01", "a date"],
  ])("`%s` reads as %s in YAML 1.1", (text, reading) => {
    const [d] = expectCodeAt(`value: <|${text}|>\n`, "OD1005");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain(reading);
    expect(d!.hint).toMatch(/Quote it|Write/);
  });

  test("the hint gives a spelling that every reader takes for the number", () => {
    expect(expectCodeAt("lr: <|1e-4|>\n", "OD1005")[0]!.hint).toContain("`1.0e-4`");
    expect(expectCodeAt("n: <|5e3|>\n", "OD1005")[0]!.hint).toContain("`5.0e+3`");
    expect(expectCodeAt("n: <|010|>\n", "OD1005")[0]!.hint).toContain("`10`");
    expect(expectCodeAt("n: <|no|>\n", "OD1005")[0]!.hint).toContain('`"no"`');
  });

  test("values both versions read alike are not reported", () => {
    const parsed = parseText(
      'a: "yes"\nb: \'no\'\nc: 1.10\nd: 0x1F\ne: 1.0e-4\nf: 07\ng: true\nh: 3.5\ni: null\nj: .inf\nk: -0.5\nl: dit\nm: !!str on\n',
    );
    expect(parsed.diagnostics).toEqual([]);
  });

  test("items of flow lists are checked", () => {
    expectCodeAt('list: [<|yes|>, "no", <|off|>]\n', "OD1005");
  });

  test("`off` is a documented PAB window value, and only there", () => {
    expectCodeAt("acceleration:\n  pab:\n    spatial: off\n    cross: <|on|>\nother: <|off|>\n", "OD1005");
  });
});

describe("OD1006 yaml-merge-key", () => {
  test("reported on the `<<` key", () => {
    // `<|<<|>` cannot be written (the marker would open twice), so the key is located by search.
    const text = "base: &base {a: 1}\nmodel:\n  <<: *base\n  b: 2\n";
    const found = parseText(text).diagnostics.filter((d) => d.code === "OD1006");
    const at = text.indexOf("<<");
    expect(found.map((d) => [d.start.offset, d.end.offset])).toEqual([[at, at + "<<".length]]);
    expect(found[0]!.severity).toBe("error");
  });

  test("merge keys are never applied", () => {
    expect(parseText("base: &base {a: 1}\nmodel:\n  <<: *base\n  b: 2\n").tree?.value).toEqual({ base: { a: 1 }, model: { b: 2 } });
  });

  test("a quoted `<<` is an ordinary key", () => {
    const parsed = parseText('"<<": 1\n');
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.tree?.value).toEqual({ "<<": 1 });
  });
});

describe("OD1007 yaml-version-directive", () => {
  test("`%YAML 1.1` is a warning, and the document is still read as YAML 1.2", () => {
    const parsed = parseMarked("<|%YAML 1.1|>\n---\na: <|yes|>\nb: 010\n<<: {c: 1}\n");
    expect(codesOf(parsed)).toEqual(["OD1007", "OD1005", "OD1005", "OD1006"]);
    expect(parsed.diagnostics[0]!.severity).toBe("warning");
    expect(parsed.tree?.value).toEqual({ a: "yes", b: 10 });
    expectCodeAt("<|%YAML 1.1|>\n---\na: 1\n", "OD1007");
  });

  test("`%YAML 1.2` is a warning too", () => {
    expectCodeAt("<|%YAML 1.2|>\n---\na: 1\n", "OD1007");
  });
});

describe("OD1008 yaml-non-string-key", () => {
  test("a list as a key", () => {
    expectCodeAt("? <|[a]|>\n: b\n", "OD1008");
  });

  test("a mapping as a key", () => {
    expectCodeAt("<|{a: 1}|>: x\n", "OD1008");
  });

  test("an entry without a key", () => {
    expectCodeAt("a: 1\n<|:|> x\n", "OD1008");
  });

  test("scalar keys are strings", () => {
    expect(parseText("0: a\n1.0: b\ntrue: c\n").tree?.value).toEqual({ "0": "a", "1.0": "b", true: "c" });
  });
});

describe("OD1009 yaml-warning", () => {
  test("an unknown directive", () => {
    const [d] = expectCodeAt("<|%FOO bar|>\n---\na: 1\n", "OD1009");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("BAD_DIRECTIVE");
  });

  test("an anchor ending in a colon", () => {
    expectCodeAt("a: &x<|:|> 1\n", "OD1009");
  });
});

describe("OD1010 empty-document", () => {
  test.each([
    ["an empty file", ""],
    ["only comments", "# nothing here\n# yet\n"],
    ["only blank lines", "\n\n   \n"],
    ["a bare document marker", "---\n"],
  ])("%s has no tree", (_, text) => {
    const parsed = parseText(text);
    expect(parsed.tree).toBeUndefined();
    expect(parsed.diagnostics.map((d) => [d.code, d.start.offset, d.end.offset])).toEqual([["OD1010", 0, 0]]);
  });

  test("an explicit null is a document", () => {
    const parsed = parseText("~\n");
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.tree?.value).toBeNull();
  });
});
