import { create, type DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { answerReflection, indexDescriptors } from "./reflection-index.js";

/**
 * Routes for gRPC server reflection, both grpc.reflection.v1 and the older v1alpha that
 * some clients still call, answered from the given files and their imports.
 * list_services names the services declared in `files`; pass the health and reflection
 * files too if they should be listed.
 */
export function reflectionRoutes(files: readonly DescFile[]): (router: ConnectRouter) => void {
  const index = indexDescriptors(files);
  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          yield create(v1.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: answerReflection(index, req.messageRequest),
          });
        }
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          yield create(v1alpha.ServerReflectionResponseSchema, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: answerReflection(index, req.messageRequest),
          });
        }
      },
    });
  };
}
