// Reads a sentence's data file, data/<page>.bin. Its bytes are described once, in
// pipeline/site_format.py (which writes it); keep this reader in step with that description.
// tests/golden/sentence.bin is a tiny file that both readers must decode to the same codes.

export const SCALE = 255; // code = round(value * 255), as pipeline.store.quantize writes it
const HEADER = 12; // "ATLS", then <u2 version, L, H, W>

// a code back to its value (pipeline.store.dequantize), within 1/510 of the store's
export const toValue = (code) => code / SCALE;

// the file's bytes, inflated (gzip), unless the server already inflated them
export async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  let bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return bytes;
}

// inflated bytes -> { L, H, W, codes (L, H, W, W), special (L, H, W) }, codes as flat Uint8Arrays
export function parseMaps(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  const [version, L, H, W] = [4, 6, 8, 10].map((at) => view.getUint16(at, true));
  const size = L * H * W * W;
  if (magic !== "ATLS" || version !== 1 || bytes.length !== HEADER + size + L * H * W) {
    throw new Error("the sentence's data file is not in the expected format");
  }
  return { L, H, W, codes: bytes.subarray(HEADER, HEADER + size), special: bytes.subarray(HEADER + size) };
}
