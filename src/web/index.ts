/** Public surface of the console room (server side): the built console and the API docs page. */
export { mountApiDocs, mountConsole } from './console.js';
