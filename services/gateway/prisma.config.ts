import { defineConfig } from 'prisma/config';
import { PrismaPg } from 'prisma-adapter-pg-migrate';

// The schema's datasource reads this variable; a default keeps `prisma generate` working
// on a fresh clone with no environment set.
process.env.GATEWAY_DATABASE_URL ??=
  'postgresql://postgres:postgres@127.0.0.1:5432/creditgate_gateway';

export default defineConfig({
  engine: 'js',
  experimental: { adapter: true },
  schema: 'prisma/schema.prisma',
  // Migrations run through the 7.x pg adapter: the 6.19 one cannot read Postgres `name` columns.
  adapter: async () => new PrismaPg({ connectionString: process.env.GATEWAY_DATABASE_URL }),
});
