"use client";

import type { FormEvent } from "react";

import { TextField } from "@/components/text-field";

import { deleteAccount } from "./actions";
import { Outcome, Section } from "./section";
import { DANGER_BUTTON } from "./styles";
import { useAccountAction } from "./use-account-action";

export function DeleteAccountForm() {
  // On success the action redirects to sign-in; only a failure is shown here.
  const { pending, outcome, run } = useAccountAction("Account deleted.");

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get("deletePassword") ?? "");
    void run(() => deleteAccount(password));
  }

  return (
    <Section title="Delete account" id="delete-heading">
      <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4" aria-label="Delete account">
        <p className="text-sm text-slate-700">
          This deletes your account and all your tasks, and signs you out everywhere. It cannot be undone.
        </p>
        <TextField name="deletePassword" label="Password" type="password" autoComplete="current-password" required />
        <Outcome outcome={outcome} testId="delete-outcome" />
        <button type="submit" disabled={pending} className={DANGER_BUTTON}>
          Delete my account
        </button>
      </form>
    </Section>
  );
}
