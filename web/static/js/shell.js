// Pages without live data (not found): shortcuts only.

import { installShortcuts } from './keys.js';

installShortcuts();
const conn = document.getElementById('conn');
if (conn) conn.hidden = true;
