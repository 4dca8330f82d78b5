import * as http2 from "node:http2";

// Requests as an outsider writes them: raw HTTP/2 streams carrying hand-made gRPC,
// gRPC-Web and Connect bodies, without any RPC library in between.

export interface RawReply {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The RST_STREAM code the stream ended with (0: none / NO_ERROR). */
  readonly rstCode: number;
  /** grpc-status from the trailers, or from headers of a trailers-only reply (gRPC), or the gRPC-Web trailer frame. */
  readonly grpcStatus?: number;
  readonly grpcMessage?: string;
}

/** A gRPC / gRPC-Web length-prefixed message: flags, 4-byte big-endian length, bytes. */
export function grpcFrame(message: Uint8Array, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(flags, 0);
  prefix.writeUInt32BE(message.byteLength, 1);
  return Buffer.concat([prefix, message]);
}

/** A length-delimited protobuf field (wire type 2) holding raw bytes: how invalid UTF-8 gets into a string field. */
export function lengthDelimitedField(fieldNumber: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([varint((fieldNumber << 3) | 2), varint(bytes.byteLength), bytes]);
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

export interface RawRequest {
  readonly path: string;
  readonly contentType: string;
  readonly body: Uint8Array;
  readonly headers?: http2.OutgoingHttpHeaders;
}

/** One request on an open session; resolves when the stream closes. */
export function rawRequest(session: http2.ClientHttp2Session, request: RawRequest): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": request.path,
      "content-type": request.contentType,
      te: "trailers",
      ...request.headers,
    };
    const stream = session.request(headers);
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (responseHeaders = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => {}); // the close event carries the outcome (rstCode)
    stream.on("close", () => {
      const body = Buffer.concat(chunks);
      const status = Number(responseHeaders[":status"] ?? 0);
      const web = grpcWebTrailers(body, String(responseHeaders["content-type"] ?? ""));
      const rawStatus = trailers["grpc-status"] ?? responseHeaders["grpc-status"] ?? web["grpc-status"];
      const rawMessage = trailers["grpc-message"] ?? responseHeaders["grpc-message"] ?? web["grpc-message"];
      resolve({
        status,
        headers: responseHeaders,
        trailers,
        body,
        rstCode: stream.rstCode ?? 0,
        ...(rawStatus !== undefined ? { grpcStatus: Number(rawStatus) } : {}),
        ...(rawMessage !== undefined ? { grpcMessage: decodeURIComponent(String(rawMessage)) } : {}),
      });
    });
    stream.end(Buffer.from(request.body));
    setTimeout(() => reject(new Error(`no reply to ${request.path} within 30 s`)), 30_000).unref();
  });
}

/** The trailer frame (flag 0x80) of a gRPC-Web body, as a header map. */
function grpcWebTrailers(body: Buffer, contentType: string): Record<string, string> {
  if (!contentType.startsWith("application/grpc-web")) return {};
  const out: Record<string, string> = {};
  for (let at = 0; at + 5 <= body.length; ) {
    const flags = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    const data = body.subarray(at + 5, at + 5 + length);
    if (flags & 0x80) {
      for (const line of data.toString("utf8").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    at += 5 + length;
  }
  return out;
}

export function connectSession(baseUrl: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(baseUrl);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve();
    session.close(() => resolve());
  });
}
