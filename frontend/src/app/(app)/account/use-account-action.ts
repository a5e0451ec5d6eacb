"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

import type { ActionResult } from "./actions";

/** Runs a server action, shows its message, and re-renders the page (and header) from the server when it worked. */
export function useAccountAction(doneMessage: string) {
  const router = useRouter();
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; message: string } | null>(null);

  async function run(action: () => Promise<ActionResult>): Promise<boolean> {
    setPending(true);
    setOutcome(null);
    try {
      const result = await action();
      setOutcome(result.ok ? { ok: true, message: doneMessage } : { ok: false, message: result.message });
      if (result.ok) router.refresh();
      return result.ok;
    } catch {
      setOutcome({ ok: false, message: "Could not reach the server. Check your connection and try again." });
      return false;
    } finally {
      setPending(false);
    }
  }

  return { pending, outcome, run };
}
