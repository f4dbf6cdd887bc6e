// SPDX-License-Identifier: MIT
// Survey program (tests/survey/run.sh): the pyprogs.py exchange in node.
//   node node.js server|client HOST PORT FILE
'use strict';
const net = require('net'), fs = require('fs'), crypto = require('crypto');
const [role, host, port, path] = process.argv.slice(2);
const data = fs.readFileSync(path);
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
if (role === 'server') {
	net.createServer({ allowHalfOpen: true }, (c) => {
		const got = [];
		c.on('data', (b) => got.push(b));
		c.on('end', () => {
			c.write(sha(Buffer.concat(got)) + '\n');
			c.end(data);
		});
	}).listen(+port, host);
} else {
	const c = net.connect({ host, port: +port, allowHalfOpen: true }, () => c.end(data));
	const got = [];
	c.on('data', (b) => got.push(b));
	c.on('end', () => {
		const all = Buffer.concat(got), nl = all.indexOf(10);
		const rest = all.subarray(nl + 1);
		console.log(all.subarray(0, nl).toString(), sha(rest), rest.length);
	});
	c.on('error', (e) => { console.log('error', e.code); process.exitCode = 2; });
}
