/**
 * A small well-formedness check for the XML the junit renderer writes: balanced tags, quoted attributes,
 * no raw `<` or stray `&` in text, no characters outside XML 1.0. Enough to catch escaping mistakes.
 */
import { expect } from "vitest";

const TAG = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>/y;

export function expectWellFormedXml(xml: string): void {
  expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/);
  expect(xml).not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+);)/);
  let at = xml.startsWith("<?xml") ? xml.indexOf("?>") + 2 : 0;
  const open: string[] = [];
  let roots = 0;
  while (at < xml.length) {
    const lt = xml.indexOf("<", at);
    if (lt < 0) break;
    expect(xml.slice(at, lt)).not.toContain(">");
    TAG.lastIndex = lt;
    const m = TAG.exec(xml);
    expect(m, `malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`).not.toBeNull();
    const [whole, closing, name, , selfClosing] = m!;
    if (closing) expect(open.pop(), `closing </${name}>`).toBe(name);
    else if (!selfClosing) {
      if (open.length === 0) roots++;
      open.push(name!);
    } else if (open.length === 0) roots++;
    at = lt + whole.length;
  }
  expect(open).toEqual([]);
  expect(roots).toBe(1);
}
