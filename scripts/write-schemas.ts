// Writes the published JSON Schema(s) from their TypeScript source: npm run schemas
import { writeFileSync } from 'node:fs';
import { gatewayConfigSchema } from '../src/config/schema.js';
import { DEMO_CONFIG } from '../src/config/defaults.js';

writeFileSync(new URL('../schemas/gateway.config.schema.json', import.meta.url), JSON.stringify(gatewayConfigSchema, null, 2) + '\n');
writeFileSync(new URL('../gateway.config.json', import.meta.url), JSON.stringify(DEMO_CONFIG, null, 2) + '\n');
console.log('wrote schemas/gateway.config.schema.json and gateway.config.json');
