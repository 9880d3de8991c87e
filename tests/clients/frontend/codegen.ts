// codegen.ts: typed documents for a frontend (README, "Frontend").
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: process.env.CITYLINKS_GRAPHQL_URL ?? "http://127.0.0.1:8000/graphql",
  documents: ["src/**/*.ts", "!src/gql/**"],
  generates: {
    "src/gql/": {
      preset: "client",
      config: {
        strictScalars: true,
        scalars: { PartialDate: "string" },
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
