import t from 'tap';
import pg from 'pg';
import { startPostgres } from '../helpers/postgres.js';

t.test('the throwaway cluster starts, restarts, survives kill -9 and a start, and stops', async (t) => {
  const server = await startPostgres(t);
  const q = async () => {
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    try {
      return (await c.query('SHOW fsync')).rows[0].fsync as string;
    } finally {
      await c.end();
    }
  };
  t.equal(await q(), 'on', 'fsync is on');
  await server.restart();
  t.equal(await q(), 'on', 'answers after a restart');
  await server.kill9();
  await t.rejects(q(), 'refuses connections while down');
  await server.start();
  t.equal(await q(), 'on', 'answers after kill -9 and start');
});
