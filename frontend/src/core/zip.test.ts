import { describe, expect, it } from "vitest";
import { isZipName, readZip, ZipError } from "./zip";

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A minimal .zip writer (CRC left 0: the reader does not check it). */
function buildZip(entries: { name: string; data: Uint8Array; method: 0 | 8; stored: Uint8Array }[]): ArrayBuffer {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(8, e.method, true);
    local.setUint32(18, e.stored.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    const head = new DataView(new ArrayBuffer(46));
    head.setUint32(0, 0x02014b50, true);
    head.setUint16(10, e.method, true);
    head.setUint32(20, e.stored.length, true);
    head.setUint32(24, e.data.length, true);
    head.setUint16(28, name.length, true);
    head.setUint32(42, offset, true);
    chunks.push(new Uint8Array(local.buffer), name, e.stored);
    central.push(new Uint8Array(head.buffer), name);
    offset += 30 + name.length + e.stored.length;
  }
  const size = central.reduce((n, c) => n + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, size, true);
  end.setUint32(16, offset, true);
  const all = [...chunks, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of all) {
    out.set(c, at);
    at += c.length;
  }
  return out.buffer;
}

describe("reading a dropped .zip", () => {
  it("reads stored and deflated entries and skips directories", async () => {
    const dicom = new Uint8Array(2000).map((_, i) => (i * 7) % 256);
    const png = new TextEncoder().encode("not really a png, just bytes ".repeat(20));
    const zip = buildZip([
      { name: "study/", data: new Uint8Array(), method: 0, stored: new Uint8Array() },
      { name: "study/IM000001", data: dicom, method: 8, stored: await deflateRaw(dicom) },
      { name: "study/leg.png", data: png, method: 0, stored: png },
    ]);
    const entries = await readZip(zip);
    expect(entries.map((e) => e.name)).toEqual(["study/IM000001", "study/leg.png"]);
    expect(entries[0].data).toEqual(dicom);
    expect(entries[1].data).toEqual(png);
  });

  it("refuses what is not a zip", async () => {
    await expect(readZip(new TextEncoder().encode("hello").buffer as ArrayBuffer)).rejects.toBeInstanceOf(ZipError);
    expect(isZipName("scans.ZIP")).toBe(true);
    expect(isZipName("leg.png")).toBe(false);
  });
});
