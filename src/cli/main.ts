#!/usr/bin/env node
console.log('shadowplane');
