/** Next.js calls register() once as the server starts, before it serves a request. */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { checkSettingsOrExit } = await import("@/lib/server/startup-check");
  checkSettingsOrExit();
  // The client address every request is counted by (client-address.ts).
  const { installClientAddressHook } = await import("@/lib/server/client-address");
  installClientAddressHook();
}
