/** Public surface of the administration room (run-time settings). */
export { SettingsService, type Settings } from './settings.js';
