/** Next.js calls register() once as the server starts, before it serves a request. */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { checkSettingsOrExit } = await import("@/lib/server/startup-check");
  checkSettingsOrExit();
}
