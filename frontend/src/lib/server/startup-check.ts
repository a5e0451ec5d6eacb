/** Settings checked once at start-up (instrumentation.ts), so that a bad one stops the server. */

import { trustedHops } from "@/lib/server/client-address";
import { mailFrom, requireEmailVerification, smtpURL } from "@/lib/server/config";
import { jwtPluginOptions } from "@/lib/server/jwt-plugin";

/** Builds the JWT plugin's options and reads TRUSTED_PROXIES and the mail settings; on a bad setting, exits with a message naming it. */
export function checkSettingsOrExit(): void {
  try {
    jwtPluginOptions();
    trustedHops();
    smtpURL();
    mailFrom();
    requireEmailVerification();
  } catch (error) {
    // Next.js only logs a failed register() and keeps listening, answering 500 to every request:
    // a server that cannot sign tokens must not look as if it were up.
    console.error(`Tandem cannot start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
