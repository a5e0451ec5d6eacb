// Shared by check-schema-drift.mts and print-schema.mts: Better Auth's own view of the tables it
// needs, computed from the SAME options object the app uses (src/lib/auth.ts).
import { randomBytes } from "node:crypto";

import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

import { authOptions, pool as appPool } from "../../src/lib/auth.ts";

export type Migrations = Awaited<ReturnType<typeof getMigrations>>;

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) throw new Error("DATABASE_URL is not set");
  return url;
}

/** Better Auth's migration plan against `pool`; its warnings (type and nullability drift) are collected. */
export async function planMigrations(pool: pg.Pool, warnings: string[] = []): Promise<Migrations> {
  return getMigrations(
    {
      ...authOptions,
      database: pool,
      logger: {
        level: "warn",
        log: (level, message) => {
          if (level === "warn" || level === "error") warnings.push(message);
        },
      },
    },
    { throwOnUnsafe: false },
  );
}

/**
 * Runs `fn` with a pool whose search_path is a brand-new empty schema, dropped afterwards, so
 * Better Auth plans its tables from scratch whatever the database already holds.
 */
export async function withEmptySchema<T>(fn: (pool: pg.Pool, schema: string) => Promise<T>): Promise<T> {
  const schema = `tandem_probe_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  const probe = new pg.Pool({ connectionString: databaseUrl(), max: 2, options: `-c search_path=${schema}` });
  try {
    return await fn(probe, schema);
  } finally {
    await probe.end();
    await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
    await admin.end();
  }
}

/** Closes the app's own pool, opened when src/lib/auth.ts was imported. */
export async function closeAppPool(): Promise<void> {
  await appPool.end();
}
