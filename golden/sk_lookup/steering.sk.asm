sk_lookup: sk_lookup - section sk_lookup (268 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -88) = 0
  2: (7a) *(u64 *)(r10 -80) = 0
  3: (7a) *(u64 *)(r10 -72) = 0
  4: (7a) *(u64 *)(r10 -64) = 0
  5: (7a) *(u64 *)(r10 -56) = 0
  6: (7a) *(u64 *)(r10 -48) = 0
  7: (7a) *(u64 *)(r10 -40) = 0
  8: (7a) *(u64 *)(r10 -32) = 0
  9: (7a) *(u64 *)(r10 -24) = 0
 10: (7a) *(u64 *)(r10 -16) = 0
 11: (7a) *(u64 *)(r10 -8) = 0
 12: (62) *(u32 *)(r10 -88) = 32
 13: (62) *(u32 *)(r10 -80) = 32
 14: (62) *(u32 *)(r10 -72) = 128
 15: (62) *(u32 *)(r10 -52) = 128
 16: (61) r1 = *(u32 *)(r6 +8)
 17: (15) if r1 == 0x2 goto pc+18
 18: (72) *(u8 *)(r10 -32) = 6
 19: (61) r1 = *(u32 *)(r6 +20)
 20: (63) *(u32 *)(r10 -68) = r1
 21: (61) r1 = *(u32 *)(r6 +44)
 22: (63) *(u32 *)(r10 -48) = r1
 23: (61) r1 = *(u32 *)(r6 +24)
 24: (63) *(u32 *)(r10 -64) = r1
 25: (61) r1 = *(u32 *)(r6 +48)
 26: (63) *(u32 *)(r10 -44) = r1
 27: (61) r1 = *(u32 *)(r6 +28)
 28: (63) *(u32 *)(r10 -60) = r1
 29: (61) r1 = *(u32 *)(r6 +52)
 30: (63) *(u32 *)(r10 -40) = r1
 31: (61) r1 = *(u32 *)(r6 +32)
 32: (63) *(u32 *)(r10 -56) = r1
 33: (61) r1 = *(u32 *)(r6 +56)
 34: (63) *(u32 *)(r10 -36) = r1
 35: (05) goto pc+5
 36: (72) *(u8 *)(r10 -32) = 4
 37: (61) r1 = *(u32 *)(r6 +16)
 38: (63) *(u32 *)(r10 -84) = r1
 39: (61) r1 = *(u32 *)(r6 +40)
 40: (63) *(u32 *)(r10 -76) = r1
 41: (61) r1 = *(u32 *)(r6 +12)
 42: (73) *(u8 *)(r10 -31) = r1
 43: (72) *(u8 *)(r10 -30) = 1
 44: (69) r1 = *(u16 *)(r6 +36)
 45: (dc) r1 = be16 r1
 46: (6b) *(u16 *)(r10 -28) = r1
 47: (61) r1 = *(u32 *)(r6 +60)
 48: (6b) *(u16 *)(r10 -26) = r1
; line 11: drop from @blocked
 49: (71) r1 = *(u8 *)(r10 -32)
 50: (55) if r1 != 0x4 goto pc+7
 51: (18) r1 = map[set_blocked_v4]
 53: (bf) r2 = r10
 54: (07) r2 += -88
 55: (85) call bpf_map_lookup_elem#1
 56: (15) if r0 == 0x0 goto pc+10
 57: (05) goto pc+6
 58: (18) r1 = map[set_blocked_v6]
 60: (bf) r2 = r10
 61: (07) r2 += -72
 62: (85) call bpf_map_lookup_elem#1
 63: (15) if r0 == 0x0 goto pc+3
 64: (62) *(u32 *)(r10 -16) = 0
 65: (b7) r9 = 0
 66: (05) goto pc+79
; line 12: count tcp to 3.3.3.0/24
 67: (71) r1 = *(u8 *)(r10 -32)
 68: (55) if r1 != 0x4 goto pc+39
 69: (71) r1 = *(u8 *)(r10 -31)
 70: (55) if r1 != 0x6 goto pc+28
 71: (61) r1 = *(u32 *)(r10 -76)
 72: (54) w1 &= 16777215
 73: (56) if w1 != 0x30303 goto pc+50
 74: (62) *(u32 *)(r10 -16) = 1
 75: (61) r1 = *(u32 *)(r10 -16)
 76: (77) r1 >>= 8
 77: (63) *(u32 *)(r10 -96) = r1
 78: (18) r1 = map[counters]
 80: (bf) r2 = r10
 81: (07) r2 += -96
 82: (85) call bpf_map_lookup_elem#1
 83: (15) if r0 == 0x0 goto pc+11
 84: (61) r1 = *(u32 *)(r10 -16)
 85: (57) r1 &= 255
 86: (67) r1 <<= 4
 87: (0f) r0 += r1
 88: (79) r1 = *(u64 *)(r0 +0)
 89: (07) r1 += 1
 90: (7b) *(u64 *)(r0 +0) = r1
 91: (79) r1 = *(u64 *)(r0 +8)
 92: (61) r2 = *(u32 *)(r10 -20)
 93: (0f) r1 += r2
 94: (7b) *(u64 *)(r0 +8) = r1
; line 13: redirect 3.3.3.3:* to sock proxy
 95: (61) r1 = *(u32 *)(r10 -76)
 96: (56) if w1 != 0x3030303 goto pc+37
 97: (62) *(u32 *)(r10 -16) = 2
 98: (05) goto pc+69
; line 14: redirect 1.1.1.0/24:53 to sock dns
 99: (71) r1 = *(u8 *)(r10 -31)
100: (55) if r1 != 0x11 goto pc+43
101: (61) r1 = *(u32 *)(r10 -76)
102: (54) w1 &= 16777215
103: (56) if w1 != 0x10101 goto pc+40
104: (69) r1 = *(u16 *)(r10 -26)
105: (55) if r1 != 0x35 goto pc+38
106: (62) *(u32 *)(r10 -16) = 3
107: (05) goto pc+81
; line 15: redirect [2001:db8::/64]:@webports to sock web6
108: (71) r1 = *(u8 *)(r10 -31)
109: (55) if r1 != 0x6 goto pc+34
110: (61) r1 = *(u32 *)(r10 -48)
111: (a4) w1 ^= -1207107296
112: (61) r2 = *(u32 *)(r10 -44)
113: (a4) w2 ^= 0
114: (4c) w1 |= w2
115: (56) if w1 != 0x0 goto pc+28
116: (69) r1 = *(u16 *)(r10 -26)
117: (15) if r1 == 0x50 goto pc+4
118: (15) if r1 == 0x1bb goto pc+3
119: (a5) if r1 < 0x1f40 goto pc+24
120: (b5) if r1 <= 0x2327 goto pc+1
121: (05) goto pc+22
122: (62) *(u32 *)(r10 -16) = 4
123: (05) goto pc+86
; line 16: redirect from 10.0.0.0/8 to 4.4.4.4:9000-9099 to sock dual
124: (61) r1 = *(u32 *)(r10 -84)
125: (54) w1 &= 255
126: (56) if w1 != 0xa goto pc+17
127: (61) r1 = *(u32 *)(r10 -76)
128: (56) if w1 != 0x4040404 goto pc+15
129: (69) r1 = *(u16 *)(r10 -26)
130: (a5) if r1 < 0x2328 goto pc+13
131: (25) if r1 > 0x238b goto pc+12
132: (62) *(u32 *)(r10 -16) = 5
133: (05) goto pc+97
; line 17: pass tcp to 3.3.3.4:22
134: (61) r1 = *(u32 *)(r10 -76)
135: (56) if w1 != 0x4030303 goto pc+5
136: (69) r1 = *(u16 *)(r10 -26)
137: (55) if r1 != 0x16 goto pc+3
138: (62) *(u32 *)(r10 -16) = 6
139: (b7) r9 = 1
140: (05) goto pc+5
; line 18: drop tcp to 3.3.3.0/24
141: (62) *(u32 *)(r10 -16) = 7
142: (b7) r9 = 0
143: (05) goto pc+2
; line 19: default pass
144: (62) *(u32 *)(r10 -16) = 8
145: (b7) r9 = 1
146: (61) r1 = *(u32 *)(r10 -16)
147: (77) r1 >>= 8
148: (63) *(u32 *)(r10 -96) = r1
149: (18) r1 = map[counters]
151: (bf) r2 = r10
152: (07) r2 += -96
153: (85) call bpf_map_lookup_elem#1
154: (15) if r0 == 0x0 goto pc+11
155: (61) r1 = *(u32 *)(r10 -16)
156: (57) r1 &= 255
157: (67) r1 <<= 4
158: (0f) r0 += r1
159: (79) r1 = *(u64 *)(r0 +0)
160: (07) r1 += 1
161: (7b) *(u64 *)(r0 +0) = r1
162: (79) r1 = *(u64 *)(r0 +8)
163: (61) r2 = *(u32 *)(r10 -20)
164: (0f) r1 += r2
165: (7b) *(u64 *)(r0 +8) = r1
166: (bf) r0 = r9
167: (95) exit
; redirect to socket sock0: its slot in the socket map
168: (62) *(u32 *)(r10 -12) = 0
169: (18) r1 = map[sockets]
171: (bf) r2 = r10
172: (07) r2 += -12
173: (85) call bpf_map_lookup_elem#1
174: (15) if r0 == 0x0 goto pc+12
175: (bf) r7 = r0
176: (bf) r1 = r6
177: (bf) r2 = r7
178: (b7) r3 = 0
179: (85) call bpf_sk_assign#124
180: (bf) r8 = r0
181: (bf) r1 = r7
182: (85) call bpf_sk_release#86
183: (b7) r9 = 1
184: (15) if r8 == 0x0 goto pc-39
185: (b7) r1 = 1
186: (05) goto pc+65
187: (b7) r1 = 0
188: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
189: (62) *(u32 *)(r10 -12) = 1
190: (18) r1 = map[sockets]
192: (bf) r2 = r10
193: (07) r2 += -12
194: (85) call bpf_map_lookup_elem#1
195: (15) if r0 == 0x0 goto pc+12
196: (bf) r7 = r0
197: (bf) r1 = r6
198: (bf) r2 = r7
199: (b7) r3 = 0
200: (85) call bpf_sk_assign#124
201: (bf) r8 = r0
202: (bf) r1 = r7
203: (85) call bpf_sk_release#86
204: (b7) r9 = 1
205: (15) if r8 == 0x0 goto pc-60
206: (b7) r1 = 3
207: (05) goto pc+44
208: (b7) r1 = 2
209: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
210: (62) *(u32 *)(r10 -12) = 2
211: (18) r1 = map[sockets]
213: (bf) r2 = r10
214: (07) r2 += -12
215: (85) call bpf_map_lookup_elem#1
216: (15) if r0 == 0x0 goto pc+12
217: (bf) r7 = r0
218: (bf) r1 = r6
219: (bf) r2 = r7
220: (b7) r3 = 0
221: (85) call bpf_sk_assign#124
222: (bf) r8 = r0
223: (bf) r1 = r7
224: (85) call bpf_sk_release#86
225: (b7) r9 = 1
226: (15) if r8 == 0x0 goto pc-81
227: (b7) r1 = 5
228: (05) goto pc+23
229: (b7) r1 = 4
230: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
231: (62) *(u32 *)(r10 -12) = 3
232: (18) r1 = map[sockets]
234: (bf) r2 = r10
235: (07) r2 += -12
236: (85) call bpf_map_lookup_elem#1
237: (15) if r0 == 0x0 goto pc+12
238: (bf) r7 = r0
239: (bf) r1 = r6
240: (bf) r2 = r7
241: (b7) r3 = 0
242: (85) call bpf_sk_assign#124
243: (bf) r8 = r0
244: (bf) r1 = r7
245: (85) call bpf_sk_release#86
246: (b7) r9 = 1
247: (15) if r8 == 0x0 goto pc-102
248: (b7) r1 = 7
249: (05) goto pc+2
250: (b7) r1 = 6
251: (05) goto pc+0
; redirect dropped: count it for the socket
252: (63) *(u32 *)(r10 -12) = r1
253: (18) r1 = map[socket_drops]
255: (bf) r2 = r10
256: (07) r2 += -12
257: (85) call bpf_map_lookup_elem#1
258: (15) if r0 == 0x0 goto pc+7
259: (79) r1 = *(u64 *)(r0 +0)
260: (07) r1 += 1
261: (7b) *(u64 *)(r0 +0) = r1
262: (79) r1 = *(u64 *)(r0 +8)
263: (61) r2 = *(u32 *)(r10 -20)
264: (0f) r1 += r2
265: (7b) *(u64 *)(r0 +8) = r1
266: (b7) r9 = 0
267: (05) goto pc-122

