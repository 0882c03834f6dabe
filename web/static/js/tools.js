// Human labels for what an agent is doing, from its tool calls (after the original UI's formatTool).

import { truncate } from './format.js';

function basename(path) {
  return String(path || '').split('/').filter(Boolean).pop() || '';
}

function host(url) {
  try { return new URL(url).host; } catch { return truncate(url, 40); }
}

// `gamma-agent <command> [<action>]` (workers/agent_cli.py), most specific first.
const AGENT_COMMANDS = [
  [/gamma-agent\s+plan\b/, '📋', 'Planning tasks'],
  [/gamma-agent\s+task\s+(create|assign)\b/, '📋', 'Delegating task'],
  [/gamma-agent\s+task\s+done\b/, '✅', 'Finishing task'],
  [/gamma-agent\s+task\s+fail\b/, '⛔', 'Failing task'],
  [/gamma-agent\s+task\s+review\b/, '🔍', 'Asking for review'],
  [/gamma-agent\s+task\s+block\b/, '🚧', 'Reporting a blocker'],
  [/gamma-agent\s+task\s+(update|cancel)\b/, '🔄', 'Updating task'],
  [/gamma-agent\s+task\s+get\b/, '📄', 'Reading task'],
  [/gamma-agent\s+tasks\b/, '🗂️', 'Checking tasks'],
  [/gamma-agent\s+msg\s+send\b/, '💬', 'Messaging agent'],
  [/gamma-agent\s+msg\s+read\b/, '📥', 'Reading inbox'],
  [/gamma-agent\s+msg\s+broadcast\b/, '📢', 'Broadcasting'],
  [/gamma-agent\s+(team|whoami|context)\b/, '👥', 'Checking the team'],
  [/gamma-agent\s+status\b/, '📣', 'Reporting progress'],
  [/gamma-agent\s+done\b/, '🎯', 'Marking the goal done'],
];

/** {icon, label, detail} for a tool call. */
export function formatTool(name, input = {}) {
  const args = input && typeof input === 'object' ? input : {};
  switch (name) {
    case 'Read': return { icon: '📖', label: 'Reading', detail: basename(args.file_path || args.path) };
    case 'Write': return { icon: '📝', label: 'Writing', detail: basename(args.file_path) };
    case 'Edit':
    case 'MultiEdit': return { icon: '✏️', label: 'Editing', detail: basename(args.file_path) };
    case 'Bash': {
      const cmd = String(args.command || '');
      if (/gamma-agent|\/agent\/|GAMMA_API_URL/.test(cmd)) {
        for (const [re, icon, label] of AGENT_COMMANDS) if (re.test(cmd)) return { icon, label, detail: '' };
        return { icon: '🛰️', label: 'Calling Gamma', detail: truncate(cmd, 60) };
      }
      return { icon: '⚡', label: 'Running', detail: truncate(args.description || cmd, 60) };
    }
    case 'Grep': return { icon: '🔍', label: 'Searching', detail: truncate(args.pattern || '', 40) };
    case 'Glob': return { icon: '🗂️', label: 'Finding files', detail: truncate(args.pattern || '', 40) };
    case 'LS': return { icon: '🗂️', label: 'Listing', detail: basename(args.path) };
    case 'WebFetch': return { icon: '🌐', label: 'Fetching', detail: host(args.url) };
    case 'WebSearch': return { icon: '🌐', label: 'Searching web', detail: truncate(args.query || '', 40) };
    case 'TodoWrite': return { icon: '🗒️', label: 'Updating task list', detail: '' };
    case 'Task':
    case 'Agent': return { icon: '👥', label: 'Spawning sub-agent', detail: truncate(args.description || '', 40) };
    case 'NotebookEdit': return { icon: '📓', label: 'Editing notebook', detail: basename(args.notebook_path) };
    default: return { icon: '🔧', label: String(name || 'Tool'), detail: '' };
  }
}

/** A one-line summary of a tool call's input, for log rows. */
export function toolInputSummary(name, input = {}) {
  const args = input && typeof input === 'object' ? input : {};
  if (name === 'Bash') return String(args.command || '');
  if (args.file_path) return String(args.file_path);
  if (args.pattern) return String(args.pattern);
  if (args.url) return String(args.url);
  if (args.query) return String(args.query);
  if (args.description) return String(args.description);
  try { return JSON.stringify(args); } catch { return ''; }
}
