// Fails (exit 1) when the database at DATABASE_URL differs from the tables Better Auth expects
// for Tandem's configuration. Alembic owns the schema; this is the check that it got Better
// Auth's tables exactly right. Exit 2 means the check itself could not run.
//
// Two views are checked:
//  1. Better Auth's own migration planner (getMigrations): tables or columns it would create,
//     plus the type and nullability warnings it prints.
//  2. A catalog comparison with the tables Better Auth creates in an empty scratch schema:
//     column types, nullability, defaults, primary and foreign keys, and indexes.
import pg from "pg";

import { closeAppPool, databaseUrl, planMigrations, withEmptySchema } from "./lib/better-auth-schema.mts";
import { compareTables, describeTables } from "./lib/catalog.mts";

function section(title: string, lines: string[]): void {
  console.log(`\n${title}: ${lines.length === 0 ? "none" : ""}`);
  for (const line of lines) console.log(`  - ${line}`);
}

async function main(): Promise<number> {
  const live = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
  try {
    const warnings: string[] = [];
    const plan = await planMigrations(live, warnings);
    const liveSchema: string = (await live.query("select current_schema() as name")).rows[0].name;

    const structural = await withEmptySchema(async (probe, probeSchema) => {
      await (await planMigrations(probe)).runMigrations();
      const tables: string[] = (
        await probe.query("select table_name from information_schema.tables where table_schema = $1", [probeSchema])
      ).rows.map((row: { table_name: string }) => row.table_name);
      const expected = await describeTables(probe, probeSchema, tables);
      return compareTables(expected, await describeTables(live, liveSchema, tables));
    });

    console.log(`Better Auth schema drift check on schema "${liveSchema}"`);
    section("Tables to be created (toBeCreated)", plan.toBeCreated.map((t) => `${t.table}: ${Object.keys(t.fields).join(", ")}`));
    section("Columns to be added (toBeAdded)", plan.toBeAdded.map((t) => `${t.table}: ${Object.keys(t.fields).join(", ")}`));
    section("Indexes to be added (toBeAddedIndexes)", plan.toBeAddedIndexes.map((i) => `${i.table}: ${i.name}`));
    section("Unsafe changes", plan.unsafeChanges);
    section("Schema problems", plan.schemaProblems);
    section("Planner warnings", warnings);
    section("Catalog differences", structural.drift);
    section("Notes (not drift)", structural.notes);

    const sql = await plan.compileMigrations();
    const planned = plan.toBeCreated.length + plan.toBeAdded.length + plan.toBeAddedIndexes.length;
    if (planned > 0) console.log(`\nSQL Better Auth would run (compileMigrations):\n${sql}`);

    const drifted =
      planned > 0 ||
      plan.unsafeChanges.length > 0 ||
      plan.schemaProblems.length > 0 ||
      warnings.length > 0 ||
      structural.drift.length > 0;
    console.log(drifted ? "\nDRIFT: the database does not match Better Auth's schema." : "\nOK: no drift.");
    return drifted ? 1 : 0;
  } finally {
    await live.end();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error("schema drift check could not run:", error instanceof Error ? error.message : error);
  process.exitCode = 2;
} finally {
  await closeAppPool();
}
