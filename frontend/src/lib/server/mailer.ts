/**
 * Outgoing mail over SMTP (nodemailer, to SMTP_URL, from MAIL_FROM).
 *
 * `sendMail` hands the message to a background delivery and returns at once: a request that
 * mails (sign-up, a reset request) then takes as long whether or not a message goes out, and a
 * slow or failing mail server never holds a request up. Delivery is retried with exponential
 * backoff. Every attempt is logged by message kind and outcome only: never the recipient, the
 * link or its token.
 */

import { createTransport, type Transporter } from "nodemailer";

import { logEvent } from "@/lib/server/audit";
import { mailFrom, smtpURL } from "@/lib/server/config";

const ATTEMPTS = 5;
const FIRST_DELAY_MS = 1_000;
const STATE_KEY = Symbol.for("tandem.frontend.mailer");

export type MailKind = "verify_email" | "existing_account" | "reset_password";

export interface Mail {
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
}

/** One transport per process, shared by every route bundle (like the token cache). */
function transport(): Transporter {
  const holder = globalThis as typeof globalThis & { [STATE_KEY]?: Transporter };
  holder[STATE_KEY] ??= createTransport(smtpURL());
  return holder[STATE_KEY];
}

/** An SMTP error's code (`ECONNREFUSED`, `EENVELOPE`), never its message: that may quote the recipient. */
function failureCode(error: unknown): string {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") {
    return /^[A-Z0-9_]{1,32}$/.test(error.code) ? error.code.toLowerCase() : "smtp_error";
  }
  return "smtp_error";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function deliver(mail: Mail, sub: string | null): Promise<void> {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      await transport().sendMail({ from: mailFrom(), to: mail.to, subject: mail.subject, text: mail.text });
      logEvent("mail.sent", { reason: "ok", kind: mail.kind, sub, attempt });
      return;
    } catch (error) {
      const last = attempt === ATTEMPTS;
      logEvent(last ? "mail.failed" : "mail.retrying", { reason: failureCode(error), kind: mail.kind, sub, attempt });
      if (!last) await sleep(FIRST_DELAY_MS * 2 ** (attempt - 1));
    }
  }
}

/** Queues `mail` for delivery; `sub` (the user id) only labels the log events. */
export function sendMail(mail: Mail, sub: string | null): void {
  void deliver(mail, sub);
}
