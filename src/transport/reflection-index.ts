import { toBinary, type DescEnum, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";

/** A server reflection request, in the shape grpc.reflection v1 and v1alpha share. */
export type ReflectionQuery =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** The answer to a ReflectionQuery; fits the message_response oneof of both versions. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Lookup tables over a set of files and everything they import. */
export interface DescriptorIndex {
  /** Services declared in the files given (not in their imports), by full name. */
  readonly services: readonly string[];
  /** Every file, imports included, by path ("secrets/v1/secrets.proto"). */
  readonly files: ReadonlyMap<string, DescFile>;
  /** Every fully-qualified symbol (types, fields, oneofs, enum values, services, methods, extensions). */
  readonly symbols: ReadonlyMap<string, DescFile>;
  readonly messageTypes: ReadonlySet<string>;
  /** Extendee full name → extension number → declaring file. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, DescFile>>;
}

export function indexDescriptors(roots: readonly DescFile[]): DescriptorIndex {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messageTypes = new Set<string>();
  const extensions = new Map<string, Map<number, DescFile>>();

  // First declaration wins when two files claim one name.
  const addSymbol = (name: string, file: DescFile) => {
    if (!symbols.has(name)) symbols.set(name, file);
  };
  const addEnum = (e: DescEnum) => {
    addSymbol(e.typeName, e.file);
    // Enum values are scoped as siblings of their enum, as in C++.
    const scope = e.parent?.typeName ?? e.file.proto.package;
    for (const v of e.values) addSymbol(scope ? `${scope}.${v.name}` : v.name, e.file);
  };
  const addMessage = (m: DescMessage) => {
    addSymbol(m.typeName, m.file);
    messageTypes.add(m.typeName);
    for (const f of m.fields) addSymbol(`${m.typeName}.${f.name}`, m.file);
    for (const o of m.oneofs) addSymbol(`${m.typeName}.${o.name}`, m.file);
    m.nestedMessages.forEach(addMessage);
    // protobuf-es hides synthetic map entry messages, but they are symbols of the file.
    for (const t of m.proto.nestedType) {
      if (t.options?.mapEntry) addSymbol(`${m.typeName}.${t.name}`, m.file);
    }
    m.nestedEnums.forEach(addEnum);
    for (const x of m.nestedExtensions) addSymbol(x.typeName, x.file);
  };
  const addFile = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    file.dependencies.forEach(addFile);
    file.messages.forEach(addMessage);
    file.enums.forEach(addEnum);
    for (const s of file.services) {
      addSymbol(s.typeName, file);
      for (const m of s.methods) addSymbol(`${s.typeName}.${m.name}`, file);
    }
    for (const x of file.extensions) addSymbol(x.typeName, file);
  };
  roots.forEach(addFile);

  // Extensions may be declared at top level or nested in any message.
  const addExtensions = (list: readonly { extendee: DescMessage; number: number; file: DescFile }[]) => {
    for (const x of list) {
      let byNumber = extensions.get(x.extendee.typeName);
      if (byNumber === undefined) {
        byNumber = new Map();
        extensions.set(x.extendee.typeName, byNumber);
      }
      if (!byNumber.has(x.number)) byNumber.set(x.number, x.file);
    }
  };
  const walkExtensions = (m: DescMessage) => {
    addExtensions(m.nestedExtensions);
    m.nestedMessages.forEach(walkExtensions);
  };
  for (const file of files.values()) {
    addExtensions(file.extensions);
    file.messages.forEach(walkExtensions);
  }

  const services = [...new Set(roots.flatMap((f) => f.services.map((s) => s.typeName)))];
  return { services, files, symbols, messageTypes, extensions };
}

const encoded = new WeakMap<DescFile, Uint8Array>();

function encode(file: DescFile): Uint8Array {
  let bytes = encoded.get(file);
  if (bytes === undefined) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    encoded.set(file, bytes);
  }
  return bytes;
}

/** The file first, then its transitive imports, each once. */
function withDependencies(file: DescFile): ReflectionAnswer {
  const seen = new Set<DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f)) return;
    seen.add(f);
    f.dependencies.forEach(visit);
  };
  visit(file);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: [...seen].map(encode) } };
}

function error(code: Code, message: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

const trimDot = (name: string) => (name.startsWith(".") ? name.slice(1) : name);

/** Answers one request; failures become error answers, never exceptions. */
export function answerReflection(index: DescriptorIndex, query: ReflectionQuery): ReflectionAnswer {
  switch (query.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename": {
      const file = index.files.get(query.value);
      return file ? withDependencies(file) : error(Code.NotFound, `file not found: ${query.value}`);
    }
    case "fileContainingSymbol": {
      const file = index.symbols.get(trimDot(query.value));
      return file ? withDependencies(file) : error(Code.NotFound, `symbol not found: ${query.value}`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = query.value;
      const file = index.extensions.get(trimDot(containingType))?.get(extensionNumber);
      return file
        ? withDependencies(file)
        : error(Code.NotFound, `extension not found: ${containingType} ${extensionNumber}`);
    }
    case "allExtensionNumbersOfType": {
      const type = trimDot(query.value);
      if (!index.messageTypes.has(type)) return error(Code.NotFound, `message type not found: ${query.value}`);
      const numbers = [...(index.extensions.get(type)?.keys() ?? [])].sort((a, b) => a - b);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: type, extensionNumber: numbers } };
    }
    default:
      return error(Code.InvalidArgument, "message_request is not set");
  }
}
