// Test oracle for recado.domain.encoding: Twilio's segment calculator.
// Reads one JSON string per line on stdin, writes one JSON object per line on stdout,
// so a test can check thousands of texts against one node process.
"use strict";

const readline = require("readline");
const { SegmentedMessage } = require("sms-segments-calculator");

const lines = readline.createInterface({ input: process.stdin, terminal: false });

lines.on("line", (line) => {
  const message = new SegmentedMessage(JSON.parse(line));
  const answer = {
    encoding: message.encodingName,
    segments: message.segmentsCount,
    characters: message.numberOfCharacters,
    non_gsm: [...new Set(message.getNonGsmCharacters())],
    graphemes: message.graphemes,
  };
  process.stdout.write(JSON.stringify(answer) + "\n");
});
