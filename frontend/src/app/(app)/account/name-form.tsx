"use client";

import type { FormEvent } from "react";

import { MAX_NAME } from "@/app/(auth)/auth-form-helpers";
import { TextField } from "@/components/text-field";

import { changeName } from "./actions";
import { Outcome, Section } from "./section";
import { SAVE_BUTTON } from "./styles";
import { useAccountAction } from "./use-account-action";

export function NameForm({ name }: { name: string }) {
  const { pending, outcome, run } = useAccountAction("Name saved.");

  function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = String(new FormData(event.currentTarget).get("name") ?? "");
    void run(() => changeName(value));
  }

  return (
    <Section title="Name" id="name-heading">
      <form noValidate onSubmit={onSubmit} className="flex flex-col gap-4" aria-label="Change name">
        <TextField name="name" label="Name" autoComplete="name" required maxLength={MAX_NAME} defaultValue={name} />
        <Outcome outcome={outcome} testId="name-outcome" />
        <button type="submit" disabled={pending} className={SAVE_BUTTON}>
          Save name
        </button>
      </form>
    </Section>
  );
}
