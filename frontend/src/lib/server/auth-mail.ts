/**
 * The mail Better Auth sends, as its callbacks (auth.ts): a verification link, a notice to an
 * existing account's owner when someone signs up with their address, and a reset link.
 * Each callback only queues the message (mailer.ts), so every answer takes as long either way.
 */

import { audit, noteSubject } from "@/lib/server/audit";
import { appBaseURL } from "@/lib/server/config";
import { sendMail } from "@/lib/server/mailer";

interface MailUser {
  id: string;
  email: string;
  name: string;
}

interface Link {
  user: MailUser;
  url: string;
}

/** Why a verification mail went out, from the endpoint that sent it. */
function verificationReason(request: Request | undefined): string {
  const path = request ? new URL(request.url).pathname : "";
  if (path.endsWith("/sign-up/email")) return "sign_up";
  if (path.endsWith("/sign-in/email")) return "sign_in";
  return "resend";
}

export async function sendVerificationEmail({ user, url }: Link, request?: Request): Promise<void> {
  sendMail(
    {
      kind: "verify_email",
      to: user.email,
      subject: "Verify your email address for Tandem",
      // No name in it: whoever signs up chooses the name, and the mail goes to the address given.
      text: `Hello,\n\nOpen this link to verify your email address and sign in to Tandem:\n\n${url}\n\nThe link works for one hour. If you did not create a Tandem account, ignore this message.\n`,
    },
    user.id,
  );
  audit("email.verification_sent", { reason: verificationReason(request), sub: user.id });
}

/** Sign-up with an address that already has an account: the answer is the same, the owner is told. */
export async function onExistingUserSignUp({ user }: { user: MailUser }): Promise<void> {
  noteSubject(user.id, "existing_account");
  sendMail(
    {
      kind: "existing_account",
      to: user.email,
      subject: "Someone tried to create a Tandem account with your address",
      text: `Hello ${user.name},\n\nSomeone tried to create a new Tandem account with this email address, which already has one. If it was you, sign in instead:\n\n${appBaseURL()}/sign-in\n\nForgot your password? Reset it from the sign-in page. If it was not you, you can ignore this message: nothing changed.\n`,
    },
    user.id,
  );
}

export async function sendResetPassword({ user, url }: Link): Promise<void> {
  noteSubject(user.id, "sent");
  sendMail(
    {
      kind: "reset_password",
      to: user.email,
      subject: "Reset your Tandem password",
      text: `Hello ${user.name},\n\nOpen this link to choose a new Tandem password:\n\n${url}\n\nThe link works once, for one hour. Setting a new password signs you out everywhere. If you did not ask for this, ignore this message: your password stays as it is.\n`,
    },
    user.id,
  );
}
