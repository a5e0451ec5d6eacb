"use client";

import type { FormEvent } from "react";

import { MIN_PASSWORD } from "@/app/(auth)/auth-form-helpers";
import { TextField } from "@/components/text-field";

import { changePassword } from "./actions";
import { Outcome, Section } from "./section";
import { SAVE_BUTTON } from "./styles";
import { useAccountAction } from "./use-account-action";

export function PasswordForm() {
  const { pending, outcome, run } = useAccountAction("Password changed. Your other sessions are signed out.");

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const ok = await run(() => changePassword(String(data.get("currentPassword") ?? ""), String(data.get("newPassword") ?? "")));
    if (ok) form.reset();
  }

  return (
    <Section title="Password" id="password-heading">
      <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4" aria-label="Change password">
        <TextField name="currentPassword" label="Current password" type="password" autoComplete="current-password" required />
        <TextField
          name="newPassword"
          label="New password"
          type="password"
          autoComplete="new-password"
          required
          hint={`At least ${MIN_PASSWORD} characters. Your other sessions will be signed out.`}
        />
        <Outcome outcome={outcome} testId="password-outcome" />
        <button type="submit" disabled={pending} className={SAVE_BUTTON}>
          Change password
        </button>
      </form>
    </Section>
  );
}
