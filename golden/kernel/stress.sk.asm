xdp_lo: xdp lo section xdp (494 insns)
; prologue: parse headers into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -80) = 0
  2: (7a) *(u64 *)(r10 -72) = 0
  3: (7a) *(u64 *)(r10 -64) = 0
  4: (7a) *(u64 *)(r10 -56) = 0
  5: (7a) *(u64 *)(r10 -48) = 0
  6: (7a) *(u64 *)(r10 -40) = 0
  7: (7a) *(u64 *)(r10 -32) = 0
  8: (7a) *(u64 *)(r10 -24) = 0
  9: (7a) *(u64 *)(r10 -16) = 0
 10: (7a) *(u64 *)(r10 -8) = 0
 11: (62) *(u32 *)(r10 -80) = 32
 12: (62) *(u32 *)(r10 -72) = 32
 13: (62) *(u32 *)(r10 -64) = 128
 14: (62) *(u32 *)(r10 -44) = 128
 15: (61) r7 = *(u32 *)(r6 +0)
 16: (61) r8 = *(u32 *)(r6 +4)
 17: (bf) r1 = r8
 18: (1f) r1 -= r7
 19: (63) *(u32 *)(r10 -12) = r1
 20: (bf) r9 = r7
 21: (07) r9 += 14
 22: (2d) if r9 > r8 goto pc+89
 23: (69) r1 = *(u16 *)(r7 +12)
 24: (15) if r1 == 0x81 goto pc+1
 25: (55) if r1 != 0xa888 goto pc+5
 26: (bf) r9 = r7
 27: (07) r9 += 18
 28: (2d) if r9 > r8 goto pc+83
 29: (69) r1 = *(u16 *)(r7 +16)
 30: (07) r7 += 4
 31: (15) if r1 == 0x8 goto pc+2
 32: (15) if r1 == 0xdd86 goto pc+23
 33: (05) goto pc+78
 34: (bf) r9 = r7
 35: (07) r9 += 34
 36: (2d) if r9 > r8 goto pc+75
 37: (71) r2 = *(u8 *)(r7 +14)
 38: (bf) r1 = r2
 39: (77) r1 >>= 4
 40: (55) if r1 != 0x4 goto pc+71
 41: (57) r2 &= 15
 42: (a5) if r2 < 0x5 goto pc+69
 43: (61) r1 = *(u32 *)(r7 +26)
 44: (63) *(u32 *)(r10 -76) = r1
 45: (61) r1 = *(u32 *)(r7 +30)
 46: (63) *(u32 *)(r10 -68) = r1
 47: (71) r1 = *(u8 *)(r7 +23)
 48: (73) *(u8 *)(r10 -23) = r1
 49: (72) *(u8 *)(r10 -24) = 4
 50: (69) r1 = *(u16 *)(r7 +20)
 51: (57) r1 &= 65311
 52: (55) if r1 != 0x0 goto pc+59
 53: (67) r2 <<= 2
 54: (0f) r7 += r2
 55: (05) goto pc+26
 56: (bf) r9 = r7
 57: (07) r9 += 54
 58: (2d) if r9 > r8 goto pc+53
 59: (71) r1 = *(u8 *)(r7 +14)
 60: (77) r1 >>= 4
 61: (55) if r1 != 0x6 goto pc+50
 62: (61) r1 = *(u32 *)(r7 +22)
 63: (63) *(u32 *)(r10 -60) = r1
 64: (61) r1 = *(u32 *)(r7 +26)
 65: (63) *(u32 *)(r10 -56) = r1
 66: (61) r1 = *(u32 *)(r7 +30)
 67: (63) *(u32 *)(r10 -52) = r1
 68: (61) r1 = *(u32 *)(r7 +34)
 69: (63) *(u32 *)(r10 -48) = r1
 70: (61) r1 = *(u32 *)(r7 +38)
 71: (63) *(u32 *)(r10 -40) = r1
 72: (61) r1 = *(u32 *)(r7 +42)
 73: (63) *(u32 *)(r10 -36) = r1
 74: (61) r1 = *(u32 *)(r7 +46)
 75: (63) *(u32 *)(r10 -32) = r1
 76: (61) r1 = *(u32 *)(r7 +50)
 77: (63) *(u32 *)(r10 -28) = r1
 78: (71) r1 = *(u8 *)(r7 +20)
 79: (73) *(u8 *)(r10 -23) = r1
 80: (72) *(u8 *)(r10 -24) = 6
 81: (07) r7 += 40
 82: (71) r1 = *(u8 *)(r10 -23)
 83: (15) if r1 == 0x6 goto pc+12
 84: (15) if r1 == 0x11 goto pc+17
 85: (15) if r1 == 0x1 goto pc+1
 86: (55) if r1 != 0x3a goto pc+25
 87: (bf) r9 = r7
 88: (07) r9 += 18
 89: (2d) if r9 > r8 goto pc+22
 90: (71) r1 = *(u8 *)(r7 +14)
 91: (73) *(u8 *)(r10 -16) = r1
 92: (71) r1 = *(u8 *)(r7 +15)
 93: (73) *(u8 *)(r10 -15) = r1
 94: (72) *(u8 *)(r10 -22) = 1
 95: (05) goto pc+16
 96: (bf) r9 = r7
 97: (07) r9 += 34
 98: (2d) if r9 > r8 goto pc+13
 99: (71) r1 = *(u8 *)(r7 +27)
100: (73) *(u8 *)(r10 -21) = r1
101: (05) goto pc+3
102: (bf) r9 = r7
103: (07) r9 += 22
104: (2d) if r9 > r8 goto pc+7
105: (69) r1 = *(u16 *)(r7 +14)
106: (dc) r1 = be16 r1
107: (6b) *(u16 *)(r10 -20) = r1
108: (69) r1 = *(u16 *)(r7 +16)
109: (dc) r1 = be16 r1
110: (6b) *(u16 *)(r10 -18) = r1
111: (72) *(u8 *)(r10 -22) = 1
; line 8: count tcp from @a:@ports to @b:@ports syn !ack !rst !fin
112: (71) r1 = *(u8 *)(r10 -24)
113: (15) if r1 == 0x0 goto pc+101
114: (71) r1 = *(u8 *)(r10 -23)
115: (55) if r1 != 0x6 goto pc+99
116: (71) r1 = *(u8 *)(r10 -22)
117: (15) if r1 == 0x0 goto pc+97
118: (71) r1 = *(u8 *)(r10 -24)
119: (55) if r1 != 0x4 goto pc+7
120: (18) r1 = map[set_a_v4]
122: (bf) r2 = r10
123: (07) r2 += -80
124: (85) call bpf_map_lookup_elem#1
125: (15) if r0 == 0x0 goto pc+89
126: (05) goto pc+6
127: (18) r1 = map[set_a_v6]
129: (bf) r2 = r10
130: (07) r2 += -64
131: (85) call bpf_map_lookup_elem#1
132: (15) if r0 == 0x0 goto pc+82
133: (71) r1 = *(u8 *)(r10 -24)
134: (55) if r1 != 0x4 goto pc+7
135: (18) r1 = map[set_b_v4]
137: (bf) r2 = r10
138: (07) r2 += -72
139: (85) call bpf_map_lookup_elem#1
140: (15) if r0 == 0x0 goto pc+74
141: (05) goto pc+6
142: (18) r1 = map[set_b_v6]
144: (bf) r2 = r10
145: (07) r2 += -44
146: (85) call bpf_map_lookup_elem#1
147: (15) if r0 == 0x0 goto pc+67
148: (69) r1 = *(u16 *)(r10 -20)
149: (15) if r1 == 0x1 goto pc+23
150: (15) if r1 == 0x7 goto pc+22
151: (15) if r1 == 0x9 goto pc+21
152: (15) if r1 == 0xd goto pc+20
153: (a5) if r1 < 0x15 goto pc+61
154: (b5) if r1 <= 0x17 goto pc+18
155: (15) if r1 == 0x19 goto pc+17
156: (15) if r1 == 0x35 goto pc+16
157: (15) if r1 == 0x50 goto pc+15
158: (a5) if r1 < 0x6e goto pc+56
159: (b5) if r1 <= 0x6f goto pc+13
160: (a5) if r1 < 0x87 goto pc+54
161: (b5) if r1 <= 0x8b goto pc+11
162: (15) if r1 == 0x8f goto pc+10
163: (15) if r1 == 0x1bb goto pc+9
164: (15) if r1 == 0x1bd goto pc+8
165: (15) if r1 == 0x3e1 goto pc+7
166: (15) if r1 == 0x3e3 goto pc+6
167: (a5) if r1 < 0x400 goto pc+47
168: (b5) if r1 <= 0x1387 goto pc+4
169: (a5) if r1 < 0x1f40 goto pc+45
170: (b5) if r1 <= 0x2327 goto pc+2
171: (15) if r1 == 0xffff goto pc+1
172: (05) goto pc+42
173: (69) r1 = *(u16 *)(r10 -18)
174: (15) if r1 == 0x1 goto pc+23
175: (15) if r1 == 0x7 goto pc+22
176: (15) if r1 == 0x9 goto pc+21
177: (15) if r1 == 0xd goto pc+20
178: (a5) if r1 < 0x15 goto pc+36
179: (b5) if r1 <= 0x17 goto pc+18
180: (15) if r1 == 0x19 goto pc+17
181: (15) if r1 == 0x35 goto pc+16
182: (15) if r1 == 0x50 goto pc+15
183: (a5) if r1 < 0x6e goto pc+31
184: (b5) if r1 <= 0x6f goto pc+13
185: (a5) if r1 < 0x87 goto pc+29
186: (b5) if r1 <= 0x8b goto pc+11
187: (15) if r1 == 0x8f goto pc+10
188: (15) if r1 == 0x1bb goto pc+9
189: (15) if r1 == 0x1bd goto pc+8
190: (15) if r1 == 0x3e1 goto pc+7
191: (15) if r1 == 0x3e3 goto pc+6
192: (a5) if r1 < 0x400 goto pc+22
193: (b5) if r1 <= 0x1387 goto pc+4
194: (a5) if r1 < 0x1f40 goto pc+20
195: (b5) if r1 <= 0x2327 goto pc+2
196: (15) if r1 == 0xffff goto pc+1
197: (05) goto pc+17
198: (71) r1 = *(u8 *)(r10 -21)
199: (57) r1 &= 23
200: (55) if r1 != 0x2 goto pc+14
201: (62) *(u32 *)(r10 -8) = 0
202: (18) r1 = map[counters]
204: (bf) r2 = r10
205: (07) r2 += -8
206: (85) call bpf_map_lookup_elem#1
207: (15) if r0 == 0x0 goto pc+7
208: (79) r1 = *(u64 *)(r0 +0)
209: (07) r1 += 1
210: (7b) *(u64 *)(r0 +0) = r1
211: (79) r1 = *(u64 *)(r0 +8)
212: (61) r2 = *(u32 *)(r10 -12)
213: (0f) r1 += r2
214: (7b) *(u64 *)(r0 +8) = r1
; line 9: drop tcp from @a:1024-65535 to @b:@ports syn !ack
215: (71) r1 = *(u8 *)(r10 -24)
216: (15) if r1 == 0x0 goto pc+67
217: (71) r1 = *(u8 *)(r10 -23)
218: (55) if r1 != 0x6 goto pc+65
219: (71) r1 = *(u8 *)(r10 -22)
220: (15) if r1 == 0x0 goto pc+63
221: (71) r1 = *(u8 *)(r10 -24)
222: (55) if r1 != 0x4 goto pc+7
223: (18) r1 = map[set_a_v4]
225: (bf) r2 = r10
226: (07) r2 += -80
227: (85) call bpf_map_lookup_elem#1
228: (15) if r0 == 0x0 goto pc+55
229: (05) goto pc+6
230: (18) r1 = map[set_a_v6]
232: (bf) r2 = r10
233: (07) r2 += -64
234: (85) call bpf_map_lookup_elem#1
235: (15) if r0 == 0x0 goto pc+48
236: (71) r1 = *(u8 *)(r10 -24)
237: (55) if r1 != 0x4 goto pc+7
238: (18) r1 = map[set_b_v4]
240: (bf) r2 = r10
241: (07) r2 += -72
242: (85) call bpf_map_lookup_elem#1
243: (15) if r0 == 0x0 goto pc+40
244: (05) goto pc+6
245: (18) r1 = map[set_b_v6]
247: (bf) r2 = r10
248: (07) r2 += -44
249: (85) call bpf_map_lookup_elem#1
250: (15) if r0 == 0x0 goto pc+33
251: (69) r1 = *(u16 *)(r10 -20)
252: (a5) if r1 < 0x400 goto pc+31
253: (69) r1 = *(u16 *)(r10 -18)
254: (15) if r1 == 0x1 goto pc+23
255: (15) if r1 == 0x7 goto pc+22
256: (15) if r1 == 0x9 goto pc+21
257: (15) if r1 == 0xd goto pc+20
258: (a5) if r1 < 0x15 goto pc+25
259: (b5) if r1 <= 0x17 goto pc+18
260: (15) if r1 == 0x19 goto pc+17
261: (15) if r1 == 0x35 goto pc+16
262: (15) if r1 == 0x50 goto pc+15
263: (a5) if r1 < 0x6e goto pc+20
264: (b5) if r1 <= 0x6f goto pc+13
265: (a5) if r1 < 0x87 goto pc+18
266: (b5) if r1 <= 0x8b goto pc+11
267: (15) if r1 == 0x8f goto pc+10
268: (15) if r1 == 0x1bb goto pc+9
269: (15) if r1 == 0x1bd goto pc+8
270: (15) if r1 == 0x3e1 goto pc+7
271: (15) if r1 == 0x3e3 goto pc+6
272: (a5) if r1 < 0x400 goto pc+11
273: (b5) if r1 <= 0x1387 goto pc+4
274: (a5) if r1 < 0x1f40 goto pc+9
275: (b5) if r1 <= 0x2327 goto pc+2
276: (15) if r1 == 0xffff goto pc+1
277: (05) goto pc+6
278: (71) r1 = *(u8 *)(r10 -21)
279: (57) r1 &= 18
280: (55) if r1 != 0x2 goto pc+3
281: (62) *(u32 *)(r10 -8) = 1
282: (b7) r9 = 1
283: (05) goto pc+195
; line 10: drop udp from @b:@ports to @a:0-1023
284: (71) r1 = *(u8 *)(r10 -24)
285: (15) if r1 == 0x0 goto pc+64
286: (71) r1 = *(u8 *)(r10 -23)
287: (55) if r1 != 0x11 goto pc+62
288: (71) r1 = *(u8 *)(r10 -22)
289: (15) if r1 == 0x0 goto pc+60
290: (71) r1 = *(u8 *)(r10 -24)
291: (55) if r1 != 0x4 goto pc+7
292: (18) r1 = map[set_b_v4]
294: (bf) r2 = r10
295: (07) r2 += -80
296: (85) call bpf_map_lookup_elem#1
297: (15) if r0 == 0x0 goto pc+52
298: (05) goto pc+6
299: (18) r1 = map[set_b_v6]
301: (bf) r2 = r10
302: (07) r2 += -64
303: (85) call bpf_map_lookup_elem#1
304: (15) if r0 == 0x0 goto pc+45
305: (71) r1 = *(u8 *)(r10 -24)
306: (55) if r1 != 0x4 goto pc+7
307: (18) r1 = map[set_a_v4]
309: (bf) r2 = r10
310: (07) r2 += -72
311: (85) call bpf_map_lookup_elem#1
312: (15) if r0 == 0x0 goto pc+37
313: (05) goto pc+6
314: (18) r1 = map[set_a_v6]
316: (bf) r2 = r10
317: (07) r2 += -44
318: (85) call bpf_map_lookup_elem#1
319: (15) if r0 == 0x0 goto pc+30
320: (69) r1 = *(u16 *)(r10 -20)
321: (15) if r1 == 0x1 goto pc+23
322: (15) if r1 == 0x7 goto pc+22
323: (15) if r1 == 0x9 goto pc+21
324: (15) if r1 == 0xd goto pc+20
325: (a5) if r1 < 0x15 goto pc+24
326: (b5) if r1 <= 0x17 goto pc+18
327: (15) if r1 == 0x19 goto pc+17
328: (15) if r1 == 0x35 goto pc+16
329: (15) if r1 == 0x50 goto pc+15
330: (a5) if r1 < 0x6e goto pc+19
331: (b5) if r1 <= 0x6f goto pc+13
332: (a5) if r1 < 0x87 goto pc+17
333: (b5) if r1 <= 0x8b goto pc+11
334: (15) if r1 == 0x8f goto pc+10
335: (15) if r1 == 0x1bb goto pc+9
336: (15) if r1 == 0x1bd goto pc+8
337: (15) if r1 == 0x3e1 goto pc+7
338: (15) if r1 == 0x3e3 goto pc+6
339: (a5) if r1 < 0x400 goto pc+10
340: (b5) if r1 <= 0x1387 goto pc+4
341: (a5) if r1 < 0x1f40 goto pc+8
342: (b5) if r1 <= 0x2327 goto pc+2
343: (15) if r1 == 0xffff goto pc+1
344: (05) goto pc+5
345: (69) r1 = *(u16 *)(r10 -18)
346: (25) if r1 > 0x3ff goto pc+3
347: (62) *(u32 *)(r10 -8) = 2
348: (b7) r9 = 1
349: (05) goto pc+129
; line 11: drop ip6 tcp from [2001:db8:1:2:3:4:5:0/113]:1-2 to [fe80::/10]:65534-65535 ack psh urg ece cwr
350: (71) r1 = *(u8 *)(r10 -24)
351: (55) if r1 != 0x6 goto pc+31
352: (71) r1 = *(u8 *)(r10 -23)
353: (55) if r1 != 0x6 goto pc+29
354: (71) r1 = *(u8 *)(r10 -22)
355: (15) if r1 == 0x0 goto pc+27
356: (61) r1 = *(u32 *)(r10 -60)
357: (a4) w1 ^= -1207107296
358: (61) r2 = *(u32 *)(r10 -56)
359: (a4) w2 ^= 33554688
360: (4c) w1 |= w2
361: (61) r2 = *(u32 *)(r10 -52)
362: (a4) w2 ^= 67109632
363: (4c) w1 |= w2
364: (61) r2 = *(u32 *)(r10 -48)
365: (54) w2 &= 8454143
366: (a4) w2 ^= 1280
367: (4c) w1 |= w2
368: (56) if w1 != 0x0 goto pc+14
369: (61) r1 = *(u32 *)(r10 -40)
370: (54) w1 &= 49407
371: (56) if w1 != 0x80fe goto pc+11
372: (69) r1 = *(u16 *)(r10 -20)
373: (a5) if r1 < 0x1 goto pc+9
374: (25) if r1 > 0x2 goto pc+8
375: (69) r1 = *(u16 *)(r10 -18)
376: (a5) if r1 < 0xfffe goto pc+6
377: (71) r1 = *(u8 *)(r10 -21)
378: (57) r1 &= 248
379: (55) if r1 != 0xf8 goto pc+3
380: (62) *(u32 *)(r10 -8) = 3
381: (b7) r9 = 1
382: (05) goto pc+96
; line 12: drop ip4 icmp type 3 code 13
383: (71) r1 = *(u8 *)(r10 -24)
384: (55) if r1 != 0x4 goto pc+11
385: (71) r1 = *(u8 *)(r10 -23)
386: (55) if r1 != 0x1 goto pc+9
387: (71) r1 = *(u8 *)(r10 -22)
388: (15) if r1 == 0x0 goto pc+7
389: (71) r1 = *(u8 *)(r10 -16)
390: (55) if r1 != 0x3 goto pc+5
391: (71) r1 = *(u8 *)(r10 -15)
392: (55) if r1 != 0xd goto pc+3
393: (62) *(u32 *)(r10 -8) = 4
394: (b7) r9 = 1
395: (05) goto pc+83
; line 13: drop icmpv6 type packet-too-big
396: (71) r1 = *(u8 *)(r10 -24)
397: (55) if r1 != 0x6 goto pc+9
398: (71) r1 = *(u8 *)(r10 -23)
399: (55) if r1 != 0x3a goto pc+7
400: (71) r1 = *(u8 *)(r10 -22)
401: (15) if r1 == 0x0 goto pc+5
402: (71) r1 = *(u8 *)(r10 -16)
403: (55) if r1 != 0x2 goto pc+3
404: (62) *(u32 *)(r10 -8) = 5
405: (b7) r9 = 1
406: (05) goto pc+72
; line 14: allow from @a to @b
407: (71) r1 = *(u8 *)(r10 -24)
408: (15) if r1 == 0x0 goto pc+33
409: (71) r1 = *(u8 *)(r10 -24)
410: (55) if r1 != 0x4 goto pc+7
411: (18) r1 = map[set_a_v4]
413: (bf) r2 = r10
414: (07) r2 += -80
415: (85) call bpf_map_lookup_elem#1
416: (15) if r0 == 0x0 goto pc+25
417: (05) goto pc+6
418: (18) r1 = map[set_a_v6]
420: (bf) r2 = r10
421: (07) r2 += -64
422: (85) call bpf_map_lookup_elem#1
423: (15) if r0 == 0x0 goto pc+18
424: (71) r1 = *(u8 *)(r10 -24)
425: (55) if r1 != 0x4 goto pc+7
426: (18) r1 = map[set_b_v4]
428: (bf) r2 = r10
429: (07) r2 += -72
430: (85) call bpf_map_lookup_elem#1
431: (15) if r0 == 0x0 goto pc+10
432: (05) goto pc+6
433: (18) r1 = map[set_b_v6]
435: (bf) r2 = r10
436: (07) r2 += -44
437: (85) call bpf_map_lookup_elem#1
438: (15) if r0 == 0x0 goto pc+3
439: (62) *(u32 *)(r10 -8) = 6
440: (b7) r9 = 2
441: (05) goto pc+37
; line 15: drop to *:@ports
442: (71) r1 = *(u8 *)(r10 -24)
443: (15) if r1 == 0x0 goto pc+33
444: (71) r1 = *(u8 *)(r10 -23)
445: (15) if r1 == 0x6 goto pc+1
446: (55) if r1 != 0x11 goto pc+30
447: (71) r1 = *(u8 *)(r10 -22)
448: (15) if r1 == 0x0 goto pc+28
449: (69) r1 = *(u16 *)(r10 -18)
450: (15) if r1 == 0x1 goto pc+23
451: (15) if r1 == 0x7 goto pc+22
452: (15) if r1 == 0x9 goto pc+21
453: (15) if r1 == 0xd goto pc+20
454: (a5) if r1 < 0x15 goto pc+22
455: (b5) if r1 <= 0x17 goto pc+18
456: (15) if r1 == 0x19 goto pc+17
457: (15) if r1 == 0x35 goto pc+16
458: (15) if r1 == 0x50 goto pc+15
459: (a5) if r1 < 0x6e goto pc+17
460: (b5) if r1 <= 0x6f goto pc+13
461: (a5) if r1 < 0x87 goto pc+15
462: (b5) if r1 <= 0x8b goto pc+11
463: (15) if r1 == 0x8f goto pc+10
464: (15) if r1 == 0x1bb goto pc+9
465: (15) if r1 == 0x1bd goto pc+8
466: (15) if r1 == 0x3e1 goto pc+7
467: (15) if r1 == 0x3e3 goto pc+6
468: (a5) if r1 < 0x400 goto pc+8
469: (b5) if r1 <= 0x1387 goto pc+4
470: (a5) if r1 < 0x1f40 goto pc+6
471: (b5) if r1 <= 0x2327 goto pc+2
472: (15) if r1 == 0xffff goto pc+1
473: (05) goto pc+3
474: (62) *(u32 *)(r10 -8) = 7
475: (b7) r9 = 1
476: (05) goto pc+2
; line 16: default allow
477: (62) *(u32 *)(r10 -8) = 8
478: (b7) r9 = 2
479: (18) r1 = map[counters]
481: (bf) r2 = r10
482: (07) r2 += -8
483: (85) call bpf_map_lookup_elem#1
484: (15) if r0 == 0x0 goto pc+7
485: (79) r1 = *(u64 *)(r0 +0)
486: (07) r1 += 1
487: (7b) *(u64 *)(r0 +0) = r1
488: (79) r1 = *(u64 *)(r0 +8)
489: (61) r2 = *(u32 *)(r10 -12)
490: (0f) r1 += r2
491: (7b) *(u64 *)(r0 +8) = r1
492: (bf) r0 = r9
493: (95) exit

tci_lo: tc ingress lo section classifier (332 insns)
; prologue: parse headers into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -80) = 0
  2: (7a) *(u64 *)(r10 -72) = 0
  3: (7a) *(u64 *)(r10 -64) = 0
  4: (7a) *(u64 *)(r10 -56) = 0
  5: (7a) *(u64 *)(r10 -48) = 0
  6: (7a) *(u64 *)(r10 -40) = 0
  7: (7a) *(u64 *)(r10 -32) = 0
  8: (7a) *(u64 *)(r10 -24) = 0
  9: (7a) *(u64 *)(r10 -16) = 0
 10: (7a) *(u64 *)(r10 -8) = 0
 11: (62) *(u32 *)(r10 -80) = 32
 12: (62) *(u32 *)(r10 -72) = 32
 13: (62) *(u32 *)(r10 -64) = 128
 14: (62) *(u32 *)(r10 -44) = 128
 15: (61) r7 = *(u32 *)(r6 +76)
 16: (61) r8 = *(u32 *)(r6 +80)
 17: (61) r1 = *(u32 *)(r6 +0)
 18: (63) *(u32 *)(r10 -12) = r1
 19: (bf) r9 = r7
 20: (07) r9 += 14
 21: (2d) if r9 > r8 goto pc+89
 22: (69) r1 = *(u16 *)(r7 +12)
 23: (15) if r1 == 0x81 goto pc+1
 24: (55) if r1 != 0xa888 goto pc+5
 25: (bf) r9 = r7
 26: (07) r9 += 18
 27: (2d) if r9 > r8 goto pc+83
 28: (69) r1 = *(u16 *)(r7 +16)
 29: (07) r7 += 4
 30: (15) if r1 == 0x8 goto pc+2
 31: (15) if r1 == 0xdd86 goto pc+23
 32: (05) goto pc+78
 33: (bf) r9 = r7
 34: (07) r9 += 34
 35: (2d) if r9 > r8 goto pc+75
 36: (71) r2 = *(u8 *)(r7 +14)
 37: (bf) r1 = r2
 38: (77) r1 >>= 4
 39: (55) if r1 != 0x4 goto pc+71
 40: (57) r2 &= 15
 41: (a5) if r2 < 0x5 goto pc+69
 42: (61) r1 = *(u32 *)(r7 +26)
 43: (63) *(u32 *)(r10 -76) = r1
 44: (61) r1 = *(u32 *)(r7 +30)
 45: (63) *(u32 *)(r10 -68) = r1
 46: (71) r1 = *(u8 *)(r7 +23)
 47: (73) *(u8 *)(r10 -23) = r1
 48: (72) *(u8 *)(r10 -24) = 4
 49: (69) r1 = *(u16 *)(r7 +20)
 50: (57) r1 &= 65311
 51: (55) if r1 != 0x0 goto pc+59
 52: (67) r2 <<= 2
 53: (0f) r7 += r2
 54: (05) goto pc+26
 55: (bf) r9 = r7
 56: (07) r9 += 54
 57: (2d) if r9 > r8 goto pc+53
 58: (71) r1 = *(u8 *)(r7 +14)
 59: (77) r1 >>= 4
 60: (55) if r1 != 0x6 goto pc+50
 61: (61) r1 = *(u32 *)(r7 +22)
 62: (63) *(u32 *)(r10 -60) = r1
 63: (61) r1 = *(u32 *)(r7 +26)
 64: (63) *(u32 *)(r10 -56) = r1
 65: (61) r1 = *(u32 *)(r7 +30)
 66: (63) *(u32 *)(r10 -52) = r1
 67: (61) r1 = *(u32 *)(r7 +34)
 68: (63) *(u32 *)(r10 -48) = r1
 69: (61) r1 = *(u32 *)(r7 +38)
 70: (63) *(u32 *)(r10 -40) = r1
 71: (61) r1 = *(u32 *)(r7 +42)
 72: (63) *(u32 *)(r10 -36) = r1
 73: (61) r1 = *(u32 *)(r7 +46)
 74: (63) *(u32 *)(r10 -32) = r1
 75: (61) r1 = *(u32 *)(r7 +50)
 76: (63) *(u32 *)(r10 -28) = r1
 77: (71) r1 = *(u8 *)(r7 +20)
 78: (73) *(u8 *)(r10 -23) = r1
 79: (72) *(u8 *)(r10 -24) = 6
 80: (07) r7 += 40
 81: (71) r1 = *(u8 *)(r10 -23)
 82: (15) if r1 == 0x6 goto pc+12
 83: (15) if r1 == 0x11 goto pc+17
 84: (15) if r1 == 0x1 goto pc+1
 85: (55) if r1 != 0x3a goto pc+25
 86: (bf) r9 = r7
 87: (07) r9 += 18
 88: (2d) if r9 > r8 goto pc+22
 89: (71) r1 = *(u8 *)(r7 +14)
 90: (73) *(u8 *)(r10 -16) = r1
 91: (71) r1 = *(u8 *)(r7 +15)
 92: (73) *(u8 *)(r10 -15) = r1
 93: (72) *(u8 *)(r10 -22) = 1
 94: (05) goto pc+16
 95: (bf) r9 = r7
 96: (07) r9 += 34
 97: (2d) if r9 > r8 goto pc+13
 98: (71) r1 = *(u8 *)(r7 +27)
 99: (73) *(u8 *)(r10 -21) = r1
100: (05) goto pc+3
101: (bf) r9 = r7
102: (07) r9 += 22
103: (2d) if r9 > r8 goto pc+7
104: (69) r1 = *(u16 *)(r7 +14)
105: (dc) r1 = be16 r1
106: (6b) *(u16 *)(r10 -20) = r1
107: (69) r1 = *(u16 *)(r7 +16)
108: (dc) r1 = be16 r1
109: (6b) *(u16 *)(r10 -18) = r1
110: (72) *(u8 *)(r10 -22) = 1
; line 20: count tcp from @a:@ports to @b:@ports syn !ack !rst !fin
111: (71) r1 = *(u8 *)(r10 -24)
112: (15) if r1 == 0x0 goto pc+101
113: (71) r1 = *(u8 *)(r10 -23)
114: (55) if r1 != 0x6 goto pc+99
115: (71) r1 = *(u8 *)(r10 -22)
116: (15) if r1 == 0x0 goto pc+97
117: (71) r1 = *(u8 *)(r10 -24)
118: (55) if r1 != 0x4 goto pc+7
119: (18) r1 = map[set_a_v4]
121: (bf) r2 = r10
122: (07) r2 += -80
123: (85) call bpf_map_lookup_elem#1
124: (15) if r0 == 0x0 goto pc+89
125: (05) goto pc+6
126: (18) r1 = map[set_a_v6]
128: (bf) r2 = r10
129: (07) r2 += -64
130: (85) call bpf_map_lookup_elem#1
131: (15) if r0 == 0x0 goto pc+82
132: (71) r1 = *(u8 *)(r10 -24)
133: (55) if r1 != 0x4 goto pc+7
134: (18) r1 = map[set_b_v4]
136: (bf) r2 = r10
137: (07) r2 += -72
138: (85) call bpf_map_lookup_elem#1
139: (15) if r0 == 0x0 goto pc+74
140: (05) goto pc+6
141: (18) r1 = map[set_b_v6]
143: (bf) r2 = r10
144: (07) r2 += -44
145: (85) call bpf_map_lookup_elem#1
146: (15) if r0 == 0x0 goto pc+67
147: (69) r1 = *(u16 *)(r10 -20)
148: (15) if r1 == 0x1 goto pc+23
149: (15) if r1 == 0x7 goto pc+22
150: (15) if r1 == 0x9 goto pc+21
151: (15) if r1 == 0xd goto pc+20
152: (a5) if r1 < 0x15 goto pc+61
153: (b5) if r1 <= 0x17 goto pc+18
154: (15) if r1 == 0x19 goto pc+17
155: (15) if r1 == 0x35 goto pc+16
156: (15) if r1 == 0x50 goto pc+15
157: (a5) if r1 < 0x6e goto pc+56
158: (b5) if r1 <= 0x6f goto pc+13
159: (a5) if r1 < 0x87 goto pc+54
160: (b5) if r1 <= 0x8b goto pc+11
161: (15) if r1 == 0x8f goto pc+10
162: (15) if r1 == 0x1bb goto pc+9
163: (15) if r1 == 0x1bd goto pc+8
164: (15) if r1 == 0x3e1 goto pc+7
165: (15) if r1 == 0x3e3 goto pc+6
166: (a5) if r1 < 0x400 goto pc+47
167: (b5) if r1 <= 0x1387 goto pc+4
168: (a5) if r1 < 0x1f40 goto pc+45
169: (b5) if r1 <= 0x2327 goto pc+2
170: (15) if r1 == 0xffff goto pc+1
171: (05) goto pc+42
172: (69) r1 = *(u16 *)(r10 -18)
173: (15) if r1 == 0x1 goto pc+23
174: (15) if r1 == 0x7 goto pc+22
175: (15) if r1 == 0x9 goto pc+21
176: (15) if r1 == 0xd goto pc+20
177: (a5) if r1 < 0x15 goto pc+36
178: (b5) if r1 <= 0x17 goto pc+18
179: (15) if r1 == 0x19 goto pc+17
180: (15) if r1 == 0x35 goto pc+16
181: (15) if r1 == 0x50 goto pc+15
182: (a5) if r1 < 0x6e goto pc+31
183: (b5) if r1 <= 0x6f goto pc+13
184: (a5) if r1 < 0x87 goto pc+29
185: (b5) if r1 <= 0x8b goto pc+11
186: (15) if r1 == 0x8f goto pc+10
187: (15) if r1 == 0x1bb goto pc+9
188: (15) if r1 == 0x1bd goto pc+8
189: (15) if r1 == 0x3e1 goto pc+7
190: (15) if r1 == 0x3e3 goto pc+6
191: (a5) if r1 < 0x400 goto pc+22
192: (b5) if r1 <= 0x1387 goto pc+4
193: (a5) if r1 < 0x1f40 goto pc+20
194: (b5) if r1 <= 0x2327 goto pc+2
195: (15) if r1 == 0xffff goto pc+1
196: (05) goto pc+17
197: (71) r1 = *(u8 *)(r10 -21)
198: (57) r1 &= 23
199: (55) if r1 != 0x2 goto pc+14
200: (62) *(u32 *)(r10 -8) = 9
201: (18) r1 = map[counters]
203: (bf) r2 = r10
204: (07) r2 += -8
205: (85) call bpf_map_lookup_elem#1
206: (15) if r0 == 0x0 goto pc+7
207: (79) r1 = *(u64 *)(r0 +0)
208: (07) r1 += 1
209: (7b) *(u64 *)(r0 +0) = r1
210: (79) r1 = *(u64 *)(r0 +8)
211: (61) r2 = *(u32 *)(r10 -12)
212: (0f) r1 += r2
213: (7b) *(u64 *)(r0 +8) = r1
; line 21: drop udp from @b:@ports to @a:0-1023
214: (71) r1 = *(u8 *)(r10 -24)
215: (15) if r1 == 0x0 goto pc+64
216: (71) r1 = *(u8 *)(r10 -23)
217: (55) if r1 != 0x11 goto pc+62
218: (71) r1 = *(u8 *)(r10 -22)
219: (15) if r1 == 0x0 goto pc+60
220: (71) r1 = *(u8 *)(r10 -24)
221: (55) if r1 != 0x4 goto pc+7
222: (18) r1 = map[set_b_v4]
224: (bf) r2 = r10
225: (07) r2 += -80
226: (85) call bpf_map_lookup_elem#1
227: (15) if r0 == 0x0 goto pc+52
228: (05) goto pc+6
229: (18) r1 = map[set_b_v6]
231: (bf) r2 = r10
232: (07) r2 += -64
233: (85) call bpf_map_lookup_elem#1
234: (15) if r0 == 0x0 goto pc+45
235: (71) r1 = *(u8 *)(r10 -24)
236: (55) if r1 != 0x4 goto pc+7
237: (18) r1 = map[set_a_v4]
239: (bf) r2 = r10
240: (07) r2 += -72
241: (85) call bpf_map_lookup_elem#1
242: (15) if r0 == 0x0 goto pc+37
243: (05) goto pc+6
244: (18) r1 = map[set_a_v6]
246: (bf) r2 = r10
247: (07) r2 += -44
248: (85) call bpf_map_lookup_elem#1
249: (15) if r0 == 0x0 goto pc+30
250: (69) r1 = *(u16 *)(r10 -20)
251: (15) if r1 == 0x1 goto pc+23
252: (15) if r1 == 0x7 goto pc+22
253: (15) if r1 == 0x9 goto pc+21
254: (15) if r1 == 0xd goto pc+20
255: (a5) if r1 < 0x15 goto pc+24
256: (b5) if r1 <= 0x17 goto pc+18
257: (15) if r1 == 0x19 goto pc+17
258: (15) if r1 == 0x35 goto pc+16
259: (15) if r1 == 0x50 goto pc+15
260: (a5) if r1 < 0x6e goto pc+19
261: (b5) if r1 <= 0x6f goto pc+13
262: (a5) if r1 < 0x87 goto pc+17
263: (b5) if r1 <= 0x8b goto pc+11
264: (15) if r1 == 0x8f goto pc+10
265: (15) if r1 == 0x1bb goto pc+9
266: (15) if r1 == 0x1bd goto pc+8
267: (15) if r1 == 0x3e1 goto pc+7
268: (15) if r1 == 0x3e3 goto pc+6
269: (a5) if r1 < 0x400 goto pc+10
270: (b5) if r1 <= 0x1387 goto pc+4
271: (a5) if r1 < 0x1f40 goto pc+8
272: (b5) if r1 <= 0x2327 goto pc+2
273: (15) if r1 == 0xffff goto pc+1
274: (05) goto pc+5
275: (69) r1 = *(u16 *)(r10 -18)
276: (25) if r1 > 0x3ff goto pc+3
277: (62) *(u32 *)(r10 -8) = 10
278: (b7) r9 = 2
279: (05) goto pc+37
; line 22: drop to *:@ports
280: (71) r1 = *(u8 *)(r10 -24)
281: (15) if r1 == 0x0 goto pc+33
282: (71) r1 = *(u8 *)(r10 -23)
283: (15) if r1 == 0x6 goto pc+1
284: (55) if r1 != 0x11 goto pc+30
285: (71) r1 = *(u8 *)(r10 -22)
286: (15) if r1 == 0x0 goto pc+28
287: (69) r1 = *(u16 *)(r10 -18)
288: (15) if r1 == 0x1 goto pc+23
289: (15) if r1 == 0x7 goto pc+22
290: (15) if r1 == 0x9 goto pc+21
291: (15) if r1 == 0xd goto pc+20
292: (a5) if r1 < 0x15 goto pc+22
293: (b5) if r1 <= 0x17 goto pc+18
294: (15) if r1 == 0x19 goto pc+17
295: (15) if r1 == 0x35 goto pc+16
296: (15) if r1 == 0x50 goto pc+15
297: (a5) if r1 < 0x6e goto pc+17
298: (b5) if r1 <= 0x6f goto pc+13
299: (a5) if r1 < 0x87 goto pc+15
300: (b5) if r1 <= 0x8b goto pc+11
301: (15) if r1 == 0x8f goto pc+10
302: (15) if r1 == 0x1bb goto pc+9
303: (15) if r1 == 0x1bd goto pc+8
304: (15) if r1 == 0x3e1 goto pc+7
305: (15) if r1 == 0x3e3 goto pc+6
306: (a5) if r1 < 0x400 goto pc+8
307: (b5) if r1 <= 0x1387 goto pc+4
308: (a5) if r1 < 0x1f40 goto pc+6
309: (b5) if r1 <= 0x2327 goto pc+2
310: (15) if r1 == 0xffff goto pc+1
311: (05) goto pc+3
312: (62) *(u32 *)(r10 -8) = 11
313: (b7) r9 = 2
314: (05) goto pc+2
; line 23: default allow
315: (62) *(u32 *)(r10 -8) = 12
316: (b7) r9 = 0
317: (18) r1 = map[counters]
319: (bf) r2 = r10
320: (07) r2 += -8
321: (85) call bpf_map_lookup_elem#1
322: (15) if r0 == 0x0 goto pc+7
323: (79) r1 = *(u64 *)(r0 +0)
324: (07) r1 += 1
325: (7b) *(u64 *)(r0 +0) = r1
326: (79) r1 = *(u64 *)(r0 +8)
327: (61) r2 = *(u32 *)(r10 -12)
328: (0f) r1 += r2
329: (7b) *(u64 *)(r0 +8) = r1
330: (bf) r0 = r9
331: (95) exit

tce_lo: tc egress lo section classifier (170 insns)
; prologue: parse headers into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -80) = 0
  2: (7a) *(u64 *)(r10 -72) = 0
  3: (7a) *(u64 *)(r10 -64) = 0
  4: (7a) *(u64 *)(r10 -56) = 0
  5: (7a) *(u64 *)(r10 -48) = 0
  6: (7a) *(u64 *)(r10 -40) = 0
  7: (7a) *(u64 *)(r10 -32) = 0
  8: (7a) *(u64 *)(r10 -24) = 0
  9: (7a) *(u64 *)(r10 -16) = 0
 10: (7a) *(u64 *)(r10 -8) = 0
 11: (62) *(u32 *)(r10 -80) = 32
 12: (62) *(u32 *)(r10 -72) = 32
 13: (62) *(u32 *)(r10 -64) = 128
 14: (62) *(u32 *)(r10 -44) = 128
 15: (61) r7 = *(u32 *)(r6 +76)
 16: (61) r8 = *(u32 *)(r6 +80)
 17: (61) r1 = *(u32 *)(r6 +0)
 18: (63) *(u32 *)(r10 -12) = r1
 19: (bf) r9 = r7
 20: (07) r9 += 14
 21: (2d) if r9 > r8 goto pc+89
 22: (69) r1 = *(u16 *)(r7 +12)
 23: (15) if r1 == 0x81 goto pc+1
 24: (55) if r1 != 0xa888 goto pc+5
 25: (bf) r9 = r7
 26: (07) r9 += 18
 27: (2d) if r9 > r8 goto pc+83
 28: (69) r1 = *(u16 *)(r7 +16)
 29: (07) r7 += 4
 30: (15) if r1 == 0x8 goto pc+2
 31: (15) if r1 == 0xdd86 goto pc+23
 32: (05) goto pc+78
 33: (bf) r9 = r7
 34: (07) r9 += 34
 35: (2d) if r9 > r8 goto pc+75
 36: (71) r2 = *(u8 *)(r7 +14)
 37: (bf) r1 = r2
 38: (77) r1 >>= 4
 39: (55) if r1 != 0x4 goto pc+71
 40: (57) r2 &= 15
 41: (a5) if r2 < 0x5 goto pc+69
 42: (61) r1 = *(u32 *)(r7 +26)
 43: (63) *(u32 *)(r10 -76) = r1
 44: (61) r1 = *(u32 *)(r7 +30)
 45: (63) *(u32 *)(r10 -68) = r1
 46: (71) r1 = *(u8 *)(r7 +23)
 47: (73) *(u8 *)(r10 -23) = r1
 48: (72) *(u8 *)(r10 -24) = 4
 49: (69) r1 = *(u16 *)(r7 +20)
 50: (57) r1 &= 65311
 51: (55) if r1 != 0x0 goto pc+59
 52: (67) r2 <<= 2
 53: (0f) r7 += r2
 54: (05) goto pc+26
 55: (bf) r9 = r7
 56: (07) r9 += 54
 57: (2d) if r9 > r8 goto pc+53
 58: (71) r1 = *(u8 *)(r7 +14)
 59: (77) r1 >>= 4
 60: (55) if r1 != 0x6 goto pc+50
 61: (61) r1 = *(u32 *)(r7 +22)
 62: (63) *(u32 *)(r10 -60) = r1
 63: (61) r1 = *(u32 *)(r7 +26)
 64: (63) *(u32 *)(r10 -56) = r1
 65: (61) r1 = *(u32 *)(r7 +30)
 66: (63) *(u32 *)(r10 -52) = r1
 67: (61) r1 = *(u32 *)(r7 +34)
 68: (63) *(u32 *)(r10 -48) = r1
 69: (61) r1 = *(u32 *)(r7 +38)
 70: (63) *(u32 *)(r10 -40) = r1
 71: (61) r1 = *(u32 *)(r7 +42)
 72: (63) *(u32 *)(r10 -36) = r1
 73: (61) r1 = *(u32 *)(r7 +46)
 74: (63) *(u32 *)(r10 -32) = r1
 75: (61) r1 = *(u32 *)(r7 +50)
 76: (63) *(u32 *)(r10 -28) = r1
 77: (71) r1 = *(u8 *)(r7 +20)
 78: (73) *(u8 *)(r10 -23) = r1
 79: (72) *(u8 *)(r10 -24) = 6
 80: (07) r7 += 40
 81: (71) r1 = *(u8 *)(r10 -23)
 82: (15) if r1 == 0x6 goto pc+12
 83: (15) if r1 == 0x11 goto pc+17
 84: (15) if r1 == 0x1 goto pc+1
 85: (55) if r1 != 0x3a goto pc+25
 86: (bf) r9 = r7
 87: (07) r9 += 18
 88: (2d) if r9 > r8 goto pc+22
 89: (71) r1 = *(u8 *)(r7 +14)
 90: (73) *(u8 *)(r10 -16) = r1
 91: (71) r1 = *(u8 *)(r7 +15)
 92: (73) *(u8 *)(r10 -15) = r1
 93: (72) *(u8 *)(r10 -22) = 1
 94: (05) goto pc+16
 95: (bf) r9 = r7
 96: (07) r9 += 34
 97: (2d) if r9 > r8 goto pc+13
 98: (71) r1 = *(u8 *)(r7 +27)
 99: (73) *(u8 *)(r10 -21) = r1
100: (05) goto pc+3
101: (bf) r9 = r7
102: (07) r9 += 22
103: (2d) if r9 > r8 goto pc+7
104: (69) r1 = *(u16 *)(r7 +14)
105: (dc) r1 = be16 r1
106: (6b) *(u16 *)(r10 -20) = r1
107: (69) r1 = *(u16 *)(r7 +16)
108: (dc) r1 = be16 r1
109: (6b) *(u16 *)(r10 -18) = r1
110: (72) *(u8 *)(r10 -22) = 1
; line 27: allow from @a to @b
111: (71) r1 = *(u8 *)(r10 -24)
112: (15) if r1 == 0x0 goto pc+33
113: (71) r1 = *(u8 *)(r10 -24)
114: (55) if r1 != 0x4 goto pc+7
115: (18) r1 = map[set_a_v4]
117: (bf) r2 = r10
118: (07) r2 += -80
119: (85) call bpf_map_lookup_elem#1
120: (15) if r0 == 0x0 goto pc+25
121: (05) goto pc+6
122: (18) r1 = map[set_a_v6]
124: (bf) r2 = r10
125: (07) r2 += -64
126: (85) call bpf_map_lookup_elem#1
127: (15) if r0 == 0x0 goto pc+18
128: (71) r1 = *(u8 *)(r10 -24)
129: (55) if r1 != 0x4 goto pc+7
130: (18) r1 = map[set_b_v4]
132: (bf) r2 = r10
133: (07) r2 += -72
134: (85) call bpf_map_lookup_elem#1
135: (15) if r0 == 0x0 goto pc+10
136: (05) goto pc+6
137: (18) r1 = map[set_b_v6]
139: (bf) r2 = r10
140: (07) r2 += -44
141: (85) call bpf_map_lookup_elem#1
142: (15) if r0 == 0x0 goto pc+3
143: (62) *(u32 *)(r10 -8) = 13
144: (b7) r9 = 0
145: (05) goto pc+9
; line 28: drop proto 255
146: (71) r1 = *(u8 *)(r10 -24)
147: (15) if r1 == 0x0 goto pc+5
148: (71) r1 = *(u8 *)(r10 -23)
149: (55) if r1 != 0xff goto pc+3
150: (62) *(u32 *)(r10 -8) = 14
151: (b7) r9 = 2
152: (05) goto pc+2
; line 29: default drop
153: (62) *(u32 *)(r10 -8) = 15
154: (b7) r9 = 2
155: (18) r1 = map[counters]
157: (bf) r2 = r10
158: (07) r2 += -8
159: (85) call bpf_map_lookup_elem#1
160: (15) if r0 == 0x0 goto pc+7
161: (79) r1 = *(u64 *)(r0 +0)
162: (07) r1 += 1
163: (7b) *(u64 *)(r0 +0) = r1
164: (79) r1 = *(u64 *)(r0 +8)
165: (61) r2 = *(u32 *)(r10 -12)
166: (0f) r1 += r2
167: (7b) *(u64 *)(r0 +8) = r1
168: (bf) r0 = r9
169: (95) exit

