export { renderUnit, quoteWord, UNIT_NAME, DEFAULT_UNIT_DIR, DEFAULT_SERVICE_USER, DEFAULT_MEMORY_MAX, type UnitOptions } from './unit.js';
export { installUnit, uninstallUnit, ServiceError } from './install.js';
