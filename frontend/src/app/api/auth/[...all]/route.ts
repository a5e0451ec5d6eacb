import { toNextJsHandler } from "better-auth/next-js";

import { auth } from "@/lib/auth";
import { auditedAuthHandler } from "@/lib/server/auth-audit";

const handlers = toNextJsHandler(auth);

// Each request gets an id and its audit events, including the 429s Better Auth's rate limiter
// answers before any of its hooks run.
export const GET = auditedAuthHandler(handlers.GET);
export const POST = auditedAuthHandler(handlers.POST);
export const PATCH = auditedAuthHandler(handlers.PATCH);
export const PUT = auditedAuthHandler(handlers.PUT);
export const DELETE = auditedAuthHandler(handlers.DELETE);
