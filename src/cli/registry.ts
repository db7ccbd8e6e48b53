/** Every CLI command, in the order `darwaza help` lists them. */
import type { Command } from './command.js';
import { command as init } from './commands/init.js';
import { command as start } from './commands/start.js';

export const commands: readonly Command[] = [init, start];
