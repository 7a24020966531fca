'use strict';
// The raw PostgreSQL ceiling for what a durable task service must write at the least: per task
// one insert committed, then one completion update committed, in batches of 1,000 over two
// connections, into a table shaped like a task's (uuid key, type, params, status, result, times). Prints one JSON line: {"system": "raw", "tasks_per_s": ...}.
//
//   PG_URL=... node raw.js [--seconds 5]

const { Client } = require('pg');

async function main() {
  const seconds = process.argv[2] === '--seconds' ? +process.argv[3] : 5;
  const setup = new Client({ connectionString: process.env.PG_URL });
  await setup.connect();
  await setup.query(`DROP TABLE IF EXISTS raw_tasks;
    CREATE TABLE raw_tasks (id uuid PRIMARY KEY, type text NOT NULL, params jsonb NOT NULL,
                            status text NOT NULL, result jsonb, created_at timestamptz NOT NULL,
                            completed_at timestamptz)`);
  await setup.end();
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const loop = async () => {
    const c = new Client({ connectionString: process.env.PG_URL });
    await c.connect();
    while (Date.now() < end) {
      const r = await c.query(`INSERT INTO raw_tasks (id, type, params, status, created_at)
        SELECT gen_random_uuid(), 'sum', '{"a": 1, "b": 2}', 'PENDING', now()
        FROM generate_series(1, 1000) RETURNING id`);
      await c.query(`UPDATE raw_tasks SET status = 'COMPLETED', result = '3', completed_at = now()
        WHERE id = ANY($1::uuid[])`, [r.rows.map((x) => x.id)]);
      done += r.rows.length;
    }
    await c.end();
  };
  const t0 = Date.now();
  await Promise.all([loop(), loop()]);
  console.log(JSON.stringify({ system: 'raw', tasks_per_s: done / ((Date.now() - t0) / 1000) }));
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(2); });
