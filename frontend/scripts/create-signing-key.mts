// The one-shot step of `make cluster`, before any web instance starts: makes sure a live signing
// key of JWT_ALGORITHM exists, minting it through the plugin's own key creation, which the app
// routes through an advisory lock (src/lib/server/signing-key-lock.ts). Does nothing in HS256
// mode, which signs with a shared secret and keeps no keys.
import { createJwk } from "better-auth/plugins/jwt";

import { auth, pool } from "../src/lib/auth.ts";
import { jwtAlgorithm } from "../src/lib/server/config.ts";
import { jwtPluginOptions } from "../src/lib/server/jwt-plugin.ts";

type Context = Parameters<typeof createJwk>[0];

async function main(): Promise<void> {
  if (jwtAlgorithm() === "HS256") {
    console.log("JWT_ALGORITHM=HS256: no signing key to create");
    return;
  }
  const context = { context: await auth.$context } as unknown as Context;
  // The lock's re-check returns the live key when there is one, so a second run mints nothing.
  const key = await createJwk(context, jwtPluginOptions(pool));
  console.log(`signing key ${key.id} (${key.alg ?? jwtAlgorithm()}) is live`);
}

try {
  await main();
} catch (error) {
  console.error("could not create the signing key:", error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await pool.end();
}
