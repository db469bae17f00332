xdp_lo: xdp lo section xdp (446 insns)
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
113: (15) if r1 == 0x0 goto pc+315
114: (71) r1 = *(u8 *)(r10 -23)
115: (55) if r1 != 0x6 goto pc+132
116: (71) r1 = *(u8 *)(r10 -22)
117: (15) if r1 == 0x0 goto pc+245
118: (71) r1 = *(u8 *)(r10 -24)
119: (55) if r1 != 0x4 goto pc+7
120: (18) r1 = map[set_a_v4]
122: (bf) r2 = r10
123: (07) r2 += -80
124: (85) call bpf_map_lookup_elem#1
125: (15) if r0 == 0x0 goto pc+186
126: (05) goto pc+6
127: (18) r1 = map[set_a_v6]
129: (bf) r2 = r10
130: (07) r2 += -64
131: (85) call bpf_map_lookup_elem#1
132: (15) if r0 == 0x0 goto pc+179
133: (71) r1 = *(u8 *)(r10 -24)
134: (55) if r1 != 0x4 goto pc+7
135: (18) r1 = map[set_b_v4]
137: (bf) r2 = r10
138: (07) r2 += -72
139: (85) call bpf_map_lookup_elem#1
140: (15) if r0 == 0x0 goto pc+171
141: (05) goto pc+6
142: (18) r1 = map[set_b_v6]
144: (bf) r2 = r10
145: (07) r2 += -44
146: (85) call bpf_map_lookup_elem#1
147: (15) if r0 == 0x0 goto pc+164
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
215: (69) r1 = *(u16 *)(r10 -20)
216: (a5) if r1 < 0x400 goto pc+95
217: (69) r1 = *(u16 *)(r10 -18)
218: (15) if r1 == 0x1 goto pc+23
219: (15) if r1 == 0x7 goto pc+22
220: (15) if r1 == 0x9 goto pc+21
221: (15) if r1 == 0xd goto pc+20
222: (a5) if r1 < 0x15 goto pc+170
223: (b5) if r1 <= 0x17 goto pc+18
224: (15) if r1 == 0x19 goto pc+17
225: (15) if r1 == 0x35 goto pc+16
226: (15) if r1 == 0x50 goto pc+15
227: (a5) if r1 < 0x6e goto pc+165
228: (b5) if r1 <= 0x6f goto pc+13
229: (a5) if r1 < 0x87 goto pc+163
230: (b5) if r1 <= 0x8b goto pc+11
231: (15) if r1 == 0x8f goto pc+10
232: (15) if r1 == 0x1bb goto pc+9
233: (15) if r1 == 0x1bd goto pc+8
234: (15) if r1 == 0x3e1 goto pc+7
235: (15) if r1 == 0x3e3 goto pc+6
236: (a5) if r1 < 0x400 goto pc+156
237: (b5) if r1 <= 0x1387 goto pc+4
238: (a5) if r1 < 0x1f40 goto pc+154
239: (b5) if r1 <= 0x2327 goto pc+2
240: (15) if r1 == 0xffff goto pc+1
241: (05) goto pc+151
242: (71) r1 = *(u8 *)(r10 -21)
243: (57) r1 &= 18
244: (55) if r1 != 0x2 goto pc+148
245: (62) *(u32 *)(r10 -8) = 1
246: (b7) r9 = 1
247: (05) goto pc+183
; line 10: drop udp from @b:@ports to @a:0-1023
248: (71) r1 = *(u8 *)(r10 -23)
249: (55) if r1 != 0x11 goto pc+91
250: (71) r1 = *(u8 *)(r10 -22)
251: (15) if r1 == 0x0 goto pc+111
252: (71) r1 = *(u8 *)(r10 -24)
253: (55) if r1 != 0x4 goto pc+7
254: (18) r1 = map[set_b_v4]
256: (bf) r2 = r10
257: (07) r2 += -80
258: (85) call bpf_map_lookup_elem#1
259: (15) if r0 == 0x0 goto pc+103
260: (05) goto pc+6
261: (18) r1 = map[set_b_v6]
263: (bf) r2 = r10
264: (07) r2 += -64
265: (85) call bpf_map_lookup_elem#1
266: (15) if r0 == 0x0 goto pc+96
267: (71) r1 = *(u8 *)(r10 -24)
268: (55) if r1 != 0x4 goto pc+7
269: (18) r1 = map[set_a_v4]
271: (bf) r2 = r10
272: (07) r2 += -72
273: (85) call bpf_map_lookup_elem#1
274: (15) if r0 == 0x0 goto pc+88
275: (05) goto pc+6
276: (18) r1 = map[set_a_v6]
278: (bf) r2 = r10
279: (07) r2 += -44
280: (85) call bpf_map_lookup_elem#1
281: (15) if r0 == 0x0 goto pc+81
282: (69) r1 = *(u16 *)(r10 -20)
283: (15) if r1 == 0x1 goto pc+23
284: (15) if r1 == 0x7 goto pc+22
285: (15) if r1 == 0x9 goto pc+21
286: (15) if r1 == 0xd goto pc+20
287: (a5) if r1 < 0x15 goto pc+75
288: (b5) if r1 <= 0x17 goto pc+18
289: (15) if r1 == 0x19 goto pc+17
290: (15) if r1 == 0x35 goto pc+16
291: (15) if r1 == 0x50 goto pc+15
292: (a5) if r1 < 0x6e goto pc+70
293: (b5) if r1 <= 0x6f goto pc+13
294: (a5) if r1 < 0x87 goto pc+68
295: (b5) if r1 <= 0x8b goto pc+11
296: (15) if r1 == 0x8f goto pc+10
297: (15) if r1 == 0x1bb goto pc+9
298: (15) if r1 == 0x1bd goto pc+8
299: (15) if r1 == 0x3e1 goto pc+7
300: (15) if r1 == 0x3e3 goto pc+6
301: (a5) if r1 < 0x400 goto pc+61
302: (b5) if r1 <= 0x1387 goto pc+4
303: (a5) if r1 < 0x1f40 goto pc+59
304: (b5) if r1 <= 0x2327 goto pc+2
305: (15) if r1 == 0xffff goto pc+1
306: (05) goto pc+56
307: (69) r1 = *(u16 *)(r10 -18)
308: (25) if r1 > 0x3ff goto pc+54
309: (62) *(u32 *)(r10 -8) = 2
310: (b7) r9 = 1
311: (05) goto pc+119
; line 11: drop ip6 tcp from [2001:db8:1:2:3:4:5:0/113]:1-2 to [fe80::/10]:65534-65535 ack psh urg ece cwr
312: (71) r1 = *(u8 *)(r10 -24)
313: (55) if r1 != 0x6 goto pc+49
314: (61) r1 = *(u32 *)(r10 -60)
315: (a4) w1 ^= -1207107296
316: (61) r2 = *(u32 *)(r10 -56)
317: (a4) w2 ^= 33554688
318: (4c) w1 |= w2
319: (61) r2 = *(u32 *)(r10 -52)
320: (a4) w2 ^= 67109632
321: (4c) w1 |= w2
322: (61) r2 = *(u32 *)(r10 -48)
323: (54) w2 &= 8454143
324: (a4) w2 ^= 1280
325: (4c) w1 |= w2
326: (56) if w1 != 0x0 goto pc+36
327: (61) r1 = *(u32 *)(r10 -40)
328: (54) w1 &= 49407
329: (56) if w1 != 0x80fe goto pc+33
330: (69) r1 = *(u16 *)(r10 -20)
331: (a5) if r1 < 0x1 goto pc+31
332: (25) if r1 > 0x2 goto pc+30
333: (69) r1 = *(u16 *)(r10 -18)
334: (a5) if r1 < 0xfffe goto pc+28
335: (71) r1 = *(u8 *)(r10 -21)
336: (57) r1 &= 248
337: (55) if r1 != 0xf8 goto pc+25
338: (62) *(u32 *)(r10 -8) = 3
339: (b7) r9 = 1
340: (05) goto pc+90
; line 12: drop ip4 icmp type 3 code 13
341: (71) r1 = *(u8 *)(r10 -24)
342: (55) if r1 != 0x4 goto pc+11
343: (71) r1 = *(u8 *)(r10 -23)
344: (55) if r1 != 0x1 goto pc+18
345: (71) r1 = *(u8 *)(r10 -22)
346: (15) if r1 == 0x0 goto pc+16
347: (71) r1 = *(u8 *)(r10 -16)
348: (55) if r1 != 0x3 goto pc+14
349: (71) r1 = *(u8 *)(r10 -15)
350: (55) if r1 != 0xd goto pc+12
351: (62) *(u32 *)(r10 -8) = 4
352: (b7) r9 = 1
353: (05) goto pc+77
; line 13: drop icmpv6 type packet-too-big
354: (71) r1 = *(u8 *)(r10 -23)
355: (55) if r1 != 0x3a goto pc+7
356: (71) r1 = *(u8 *)(r10 -22)
357: (15) if r1 == 0x0 goto pc+5
358: (71) r1 = *(u8 *)(r10 -16)
359: (55) if r1 != 0x2 goto pc+3
360: (62) *(u32 *)(r10 -8) = 5
361: (b7) r9 = 1
362: (05) goto pc+68
; line 14: allow from @a to @b
363: (71) r1 = *(u8 *)(r10 -24)
364: (55) if r1 != 0x4 goto pc+7
365: (18) r1 = map[set_a_v4]
367: (bf) r2 = r10
368: (07) r2 += -80
369: (85) call bpf_map_lookup_elem#1
370: (15) if r0 == 0x0 goto pc+25
371: (05) goto pc+6
372: (18) r1 = map[set_a_v6]
374: (bf) r2 = r10
375: (07) r2 += -64
376: (85) call bpf_map_lookup_elem#1
377: (15) if r0 == 0x0 goto pc+18
378: (71) r1 = *(u8 *)(r10 -24)
379: (55) if r1 != 0x4 goto pc+7
380: (18) r1 = map[set_b_v4]
382: (bf) r2 = r10
383: (07) r2 += -72
384: (85) call bpf_map_lookup_elem#1
385: (15) if r0 == 0x0 goto pc+10
386: (05) goto pc+6
387: (18) r1 = map[set_b_v6]
389: (bf) r2 = r10
390: (07) r2 += -44
391: (85) call bpf_map_lookup_elem#1
392: (15) if r0 == 0x0 goto pc+3
393: (62) *(u32 *)(r10 -8) = 6
394: (b7) r9 = 2
395: (05) goto pc+35
; line 15: drop to *:@ports
396: (71) r1 = *(u8 *)(r10 -23)
397: (15) if r1 == 0x6 goto pc+1
398: (55) if r1 != 0x11 goto pc+30
399: (71) r1 = *(u8 *)(r10 -22)
400: (15) if r1 == 0x0 goto pc+28
401: (69) r1 = *(u16 *)(r10 -18)
402: (15) if r1 == 0x1 goto pc+23
403: (15) if r1 == 0x7 goto pc+22
404: (15) if r1 == 0x9 goto pc+21
405: (15) if r1 == 0xd goto pc+20
406: (a5) if r1 < 0x15 goto pc+22
407: (b5) if r1 <= 0x17 goto pc+18
408: (15) if r1 == 0x19 goto pc+17
409: (15) if r1 == 0x35 goto pc+16
410: (15) if r1 == 0x50 goto pc+15
411: (a5) if r1 < 0x6e goto pc+17
412: (b5) if r1 <= 0x6f goto pc+13
413: (a5) if r1 < 0x87 goto pc+15
414: (b5) if r1 <= 0x8b goto pc+11
415: (15) if r1 == 0x8f goto pc+10
416: (15) if r1 == 0x1bb goto pc+9
417: (15) if r1 == 0x1bd goto pc+8
418: (15) if r1 == 0x3e1 goto pc+7
419: (15) if r1 == 0x3e3 goto pc+6
420: (a5) if r1 < 0x400 goto pc+8
421: (b5) if r1 <= 0x1387 goto pc+4
422: (a5) if r1 < 0x1f40 goto pc+6
423: (b5) if r1 <= 0x2327 goto pc+2
424: (15) if r1 == 0xffff goto pc+1
425: (05) goto pc+3
426: (62) *(u32 *)(r10 -8) = 7
427: (b7) r9 = 1
428: (05) goto pc+2
; line 16: default allow
429: (62) *(u32 *)(r10 -8) = 8
430: (b7) r9 = 2
431: (18) r1 = map[counters]
433: (bf) r2 = r10
434: (07) r2 += -8
435: (85) call bpf_map_lookup_elem#1
436: (15) if r0 == 0x0 goto pc+7
437: (79) r1 = *(u64 *)(r0 +0)
438: (07) r1 += 1
439: (7b) *(u64 *)(r0 +0) = r1
440: (79) r1 = *(u64 *)(r0 +8)
441: (61) r2 = *(u32 *)(r10 -12)
442: (0f) r1 += r2
443: (7b) *(u64 *)(r0 +8) = r1
444: (bf) r0 = r9
445: (95) exit

tci_lo: tc ingress lo section classifier (324 insns)
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
112: (15) if r1 == 0x0 goto pc+194
113: (71) r1 = *(u8 *)(r10 -23)
114: (55) if r1 != 0x6 goto pc+100
115: (71) r1 = *(u8 *)(r10 -22)
116: (15) if r1 == 0x0 goto pc+190
117: (71) r1 = *(u8 *)(r10 -24)
118: (55) if r1 != 0x4 goto pc+7
119: (18) r1 = map[set_a_v4]
121: (bf) r2 = r10
122: (07) r2 += -80
123: (85) call bpf_map_lookup_elem#1
124: (15) if r0 == 0x0 goto pc+154
125: (05) goto pc+6
126: (18) r1 = map[set_a_v6]
128: (bf) r2 = r10
129: (07) r2 += -64
130: (85) call bpf_map_lookup_elem#1
131: (15) if r0 == 0x0 goto pc+147
132: (71) r1 = *(u8 *)(r10 -24)
133: (55) if r1 != 0x4 goto pc+7
134: (18) r1 = map[set_b_v4]
136: (bf) r2 = r10
137: (07) r2 += -72
138: (85) call bpf_map_lookup_elem#1
139: (15) if r0 == 0x0 goto pc+139
140: (05) goto pc+6
141: (18) r1 = map[set_b_v6]
143: (bf) r2 = r10
144: (07) r2 += -44
145: (85) call bpf_map_lookup_elem#1
146: (15) if r0 == 0x0 goto pc+132
147: (69) r1 = *(u16 *)(r10 -20)
148: (15) if r1 == 0x1 goto pc+23
149: (15) if r1 == 0x7 goto pc+22
150: (15) if r1 == 0x9 goto pc+21
151: (15) if r1 == 0xd goto pc+20
152: (a5) if r1 < 0x15 goto pc+126
153: (b5) if r1 <= 0x17 goto pc+18
154: (15) if r1 == 0x19 goto pc+17
155: (15) if r1 == 0x35 goto pc+16
156: (15) if r1 == 0x50 goto pc+15
157: (a5) if r1 < 0x6e goto pc+121
158: (b5) if r1 <= 0x6f goto pc+13
159: (a5) if r1 < 0x87 goto pc+119
160: (b5) if r1 <= 0x8b goto pc+11
161: (15) if r1 == 0x8f goto pc+10
162: (15) if r1 == 0x1bb goto pc+9
163: (15) if r1 == 0x1bd goto pc+8
164: (15) if r1 == 0x3e1 goto pc+7
165: (15) if r1 == 0x3e3 goto pc+6
166: (a5) if r1 < 0x400 goto pc+112
167: (b5) if r1 <= 0x1387 goto pc+4
168: (a5) if r1 < 0x1f40 goto pc+110
169: (b5) if r1 <= 0x2327 goto pc+2
170: (15) if r1 == 0xffff goto pc+1
171: (05) goto pc+107
172: (69) r1 = *(u16 *)(r10 -18)
173: (15) if r1 == 0x1 goto pc+23
174: (15) if r1 == 0x7 goto pc+22
175: (15) if r1 == 0x9 goto pc+21
176: (15) if r1 == 0xd goto pc+20
177: (a5) if r1 < 0x15 goto pc+101
178: (b5) if r1 <= 0x17 goto pc+18
179: (15) if r1 == 0x19 goto pc+17
180: (15) if r1 == 0x35 goto pc+16
181: (15) if r1 == 0x50 goto pc+15
182: (a5) if r1 < 0x6e goto pc+96
183: (b5) if r1 <= 0x6f goto pc+13
184: (a5) if r1 < 0x87 goto pc+94
185: (b5) if r1 <= 0x8b goto pc+11
186: (15) if r1 == 0x8f goto pc+10
187: (15) if r1 == 0x1bb goto pc+9
188: (15) if r1 == 0x1bd goto pc+8
189: (15) if r1 == 0x3e1 goto pc+7
190: (15) if r1 == 0x3e3 goto pc+6
191: (a5) if r1 < 0x400 goto pc+87
192: (b5) if r1 <= 0x1387 goto pc+4
193: (a5) if r1 < 0x1f40 goto pc+85
194: (b5) if r1 <= 0x2327 goto pc+2
195: (15) if r1 == 0xffff goto pc+1
196: (05) goto pc+82
197: (71) r1 = *(u8 *)(r10 -21)
198: (57) r1 &= 23
199: (55) if r1 != 0x2 goto pc+79
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
214: (05) goto pc+64
; line 21: drop udp from @b:@ports to @a:0-1023
215: (71) r1 = *(u8 *)(r10 -23)
216: (55) if r1 != 0x11 goto pc+90
217: (71) r1 = *(u8 *)(r10 -22)
218: (15) if r1 == 0x0 goto pc+88
219: (71) r1 = *(u8 *)(r10 -24)
220: (55) if r1 != 0x4 goto pc+7
221: (18) r1 = map[set_b_v4]
223: (bf) r2 = r10
224: (07) r2 += -80
225: (85) call bpf_map_lookup_elem#1
226: (15) if r0 == 0x0 goto pc+52
227: (05) goto pc+6
228: (18) r1 = map[set_b_v6]
230: (bf) r2 = r10
231: (07) r2 += -64
232: (85) call bpf_map_lookup_elem#1
233: (15) if r0 == 0x0 goto pc+45
234: (71) r1 = *(u8 *)(r10 -24)
235: (55) if r1 != 0x4 goto pc+7
236: (18) r1 = map[set_a_v4]
238: (bf) r2 = r10
239: (07) r2 += -72
240: (85) call bpf_map_lookup_elem#1
241: (15) if r0 == 0x0 goto pc+37
242: (05) goto pc+6
243: (18) r1 = map[set_a_v6]
245: (bf) r2 = r10
246: (07) r2 += -44
247: (85) call bpf_map_lookup_elem#1
248: (15) if r0 == 0x0 goto pc+30
249: (69) r1 = *(u16 *)(r10 -20)
250: (15) if r1 == 0x1 goto pc+23
251: (15) if r1 == 0x7 goto pc+22
252: (15) if r1 == 0x9 goto pc+21
253: (15) if r1 == 0xd goto pc+20
254: (a5) if r1 < 0x15 goto pc+24
255: (b5) if r1 <= 0x17 goto pc+18
256: (15) if r1 == 0x19 goto pc+17
257: (15) if r1 == 0x35 goto pc+16
258: (15) if r1 == 0x50 goto pc+15
259: (a5) if r1 < 0x6e goto pc+19
260: (b5) if r1 <= 0x6f goto pc+13
261: (a5) if r1 < 0x87 goto pc+17
262: (b5) if r1 <= 0x8b goto pc+11
263: (15) if r1 == 0x8f goto pc+10
264: (15) if r1 == 0x1bb goto pc+9
265: (15) if r1 == 0x1bd goto pc+8
266: (15) if r1 == 0x3e1 goto pc+7
267: (15) if r1 == 0x3e3 goto pc+6
268: (a5) if r1 < 0x400 goto pc+10
269: (b5) if r1 <= 0x1387 goto pc+4
270: (a5) if r1 < 0x1f40 goto pc+8
271: (b5) if r1 <= 0x2327 goto pc+2
272: (15) if r1 == 0xffff goto pc+1
273: (05) goto pc+5
274: (69) r1 = *(u16 *)(r10 -18)
275: (25) if r1 > 0x3ff goto pc+3
276: (62) *(u32 *)(r10 -8) = 10
277: (b7) r9 = 2
278: (05) goto pc+30
; line 22: drop to *:@ports
279: (69) r1 = *(u16 *)(r10 -18)
280: (15) if r1 == 0x1 goto pc+23
281: (15) if r1 == 0x7 goto pc+22
282: (15) if r1 == 0x9 goto pc+21
283: (15) if r1 == 0xd goto pc+20
284: (a5) if r1 < 0x15 goto pc+22
285: (b5) if r1 <= 0x17 goto pc+18
286: (15) if r1 == 0x19 goto pc+17
287: (15) if r1 == 0x35 goto pc+16
288: (15) if r1 == 0x50 goto pc+15
289: (a5) if r1 < 0x6e goto pc+17
290: (b5) if r1 <= 0x6f goto pc+13
291: (a5) if r1 < 0x87 goto pc+15
292: (b5) if r1 <= 0x8b goto pc+11
293: (15) if r1 == 0x8f goto pc+10
294: (15) if r1 == 0x1bb goto pc+9
295: (15) if r1 == 0x1bd goto pc+8
296: (15) if r1 == 0x3e1 goto pc+7
297: (15) if r1 == 0x3e3 goto pc+6
298: (a5) if r1 < 0x400 goto pc+8
299: (b5) if r1 <= 0x1387 goto pc+4
300: (a5) if r1 < 0x1f40 goto pc+6
301: (b5) if r1 <= 0x2327 goto pc+2
302: (15) if r1 == 0xffff goto pc+1
303: (05) goto pc+3
304: (62) *(u32 *)(r10 -8) = 11
305: (b7) r9 = 2
306: (05) goto pc+2
; line 23: default allow
307: (62) *(u32 *)(r10 -8) = 12
308: (b7) r9 = 0
309: (18) r1 = map[counters]
311: (bf) r2 = r10
312: (07) r2 += -8
313: (85) call bpf_map_lookup_elem#1
314: (15) if r0 == 0x0 goto pc+7
315: (79) r1 = *(u64 *)(r0 +0)
316: (07) r1 += 1
317: (7b) *(u64 *)(r0 +0) = r1
318: (79) r1 = *(u64 *)(r0 +8)
319: (61) r2 = *(u32 *)(r10 -12)
320: (0f) r1 += r2
321: (7b) *(u64 *)(r0 +8) = r1
322: (bf) r0 = r9
323: (95) exit

tce_lo: tc egress lo section classifier (168 insns)
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
112: (15) if r1 == 0x0 goto pc+38
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
145: (05) goto pc+7
; line 28: drop proto 255
146: (71) r1 = *(u8 *)(r10 -23)
147: (55) if r1 != 0xff goto pc+3
148: (62) *(u32 *)(r10 -8) = 14
149: (b7) r9 = 2
150: (05) goto pc+2
; line 29: default drop
151: (62) *(u32 *)(r10 -8) = 15
152: (b7) r9 = 2
153: (18) r1 = map[counters]
155: (bf) r2 = r10
156: (07) r2 += -8
157: (85) call bpf_map_lookup_elem#1
158: (15) if r0 == 0x0 goto pc+7
159: (79) r1 = *(u64 *)(r0 +0)
160: (07) r1 += 1
161: (7b) *(u64 *)(r0 +0) = r1
162: (79) r1 = *(u64 *)(r0 +8)
163: (61) r2 = *(u32 *)(r10 -12)
164: (0f) r1 += r2
165: (7b) *(u64 *)(r0 +8) = r1
166: (bf) r0 = r9
167: (95) exit

