import Bowser from "bowser";

/** A session's device in words, from its user agent: "Chrome on Linux", "Safari on iOS". */
export function deviceName(userAgent: string | null | undefined): string {
  if (!userAgent) return "Unknown device";
  const { browser, os } = Bowser.parse(userAgent);
  const name = browser.name || "Unknown browser";
  return os.name ? `${name} on ${os.name}` : name;
}
