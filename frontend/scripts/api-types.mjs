// Generates (`gen`) or verifies (`check`) src/lib/api/schema.d.ts from FastAPI's OpenAPI schema:
// $OPENAPI_FILE, else the back end's committed ../backend/openapi.json.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const TARGET = "src/lib/api/schema.d.ts";

function source() {
  const file = process.env.OPENAPI_FILE || "../backend/openapi.json";
  if (!existsSync(file)) {
    console.error(`${file} not found (set OPENAPI_FILE to use another schema)`);
    process.exit(2);
  }
  return file;
}

function generate(input, output) {
  const result = spawnSync("openapi-typescript", [input, "-o", output], {
    stdio: ["ignore", "ignore", "inherit"],
    shell: false,
    env: { ...process.env, PATH: `node_modules/.bin:${process.env.PATH ?? ""}` },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const mode = process.argv[2];
const input = source();
if (mode === "gen") {
  generate(input, TARGET);
  console.log(`${TARGET} generated from ${input}`);
} else if (mode === "check") {
  const dir = mkdtempSync(join(tmpdir(), "tandem-api-types-"));
  const fresh = join(dir, "schema.d.ts");
  try {
    generate(input, fresh);
    const current = existsSync(TARGET) ? readFileSync(TARGET, "utf8") : "";
    if (current !== readFileSync(fresh, "utf8")) {
      spawnSync("diff", ["-u", TARGET, fresh], { stdio: "inherit" });
      console.error(`${TARGET} is stale: run \`npm run gen:api\` (source: ${input})`);
      process.exitCode = 1;
    } else {
      console.log(`${TARGET} is up to date with ${input}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  console.error("usage: node scripts/api-types.mjs gen|check");
  process.exit(2);
}
