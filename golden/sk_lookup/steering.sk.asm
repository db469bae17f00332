sk_lookup: sk_lookup - section sk_lookup (254 insns)
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
 66: (05) goto pc+72
; line 12: count tcp to 3.3.3.0/24
 67: (71) r1 = *(u8 *)(r10 -32)
 68: (55) if r1 != 0x4 goto pc+32
 69: (71) r1 = *(u8 *)(r10 -31)
 70: (55) if r1 != 0x6 goto pc+21
 71: (61) r1 = *(u32 *)(r10 -76)
 72: (54) w1 &= 16777215
 73: (56) if w1 != 0x30303 goto pc+43
 74: (62) *(u32 *)(r10 -16) = 1
 75: (18) r1 = map[counters]
 77: (bf) r2 = r10
 78: (07) r2 += -16
 79: (85) call bpf_map_lookup_elem#1
 80: (15) if r0 == 0x0 goto pc+7
 81: (79) r1 = *(u64 *)(r0 +0)
 82: (07) r1 += 1
 83: (7b) *(u64 *)(r0 +0) = r1
 84: (79) r1 = *(u64 *)(r0 +8)
 85: (61) r2 = *(u32 *)(r10 -20)
 86: (0f) r1 += r2
 87: (7b) *(u64 *)(r0 +8) = r1
; line 13: redirect 3.3.3.3:* to sock proxy
 88: (61) r1 = *(u32 *)(r10 -76)
 89: (56) if w1 != 0x3030303 goto pc+37
 90: (62) *(u32 *)(r10 -16) = 2
 91: (05) goto pc+62
; line 14: redirect 1.1.1.0/24:53 to sock dns
 92: (71) r1 = *(u8 *)(r10 -31)
 93: (55) if r1 != 0x11 goto pc+43
 94: (61) r1 = *(u32 *)(r10 -76)
 95: (54) w1 &= 16777215
 96: (56) if w1 != 0x10101 goto pc+40
 97: (69) r1 = *(u16 *)(r10 -26)
 98: (55) if r1 != 0x35 goto pc+38
 99: (62) *(u32 *)(r10 -16) = 3
100: (05) goto pc+74
; line 15: redirect [2001:db8::/64]:@webports to sock web6
101: (71) r1 = *(u8 *)(r10 -31)
102: (55) if r1 != 0x6 goto pc+34
103: (61) r1 = *(u32 *)(r10 -48)
104: (a4) w1 ^= -1207107296
105: (61) r2 = *(u32 *)(r10 -44)
106: (a4) w2 ^= 0
107: (4c) w1 |= w2
108: (56) if w1 != 0x0 goto pc+28
109: (69) r1 = *(u16 *)(r10 -26)
110: (15) if r1 == 0x50 goto pc+4
111: (15) if r1 == 0x1bb goto pc+3
112: (a5) if r1 < 0x1f40 goto pc+24
113: (b5) if r1 <= 0x2327 goto pc+1
114: (05) goto pc+22
115: (62) *(u32 *)(r10 -16) = 4
116: (05) goto pc+79
; line 16: redirect from 10.0.0.0/8 to 4.4.4.4:9000-9099 to sock dual
117: (61) r1 = *(u32 *)(r10 -84)
118: (54) w1 &= 255
119: (56) if w1 != 0xa goto pc+17
120: (61) r1 = *(u32 *)(r10 -76)
121: (56) if w1 != 0x4040404 goto pc+15
122: (69) r1 = *(u16 *)(r10 -26)
123: (a5) if r1 < 0x2328 goto pc+13
124: (25) if r1 > 0x238b goto pc+12
125: (62) *(u32 *)(r10 -16) = 5
126: (05) goto pc+90
; line 17: pass tcp to 3.3.3.4:22
127: (61) r1 = *(u32 *)(r10 -76)
128: (56) if w1 != 0x4030303 goto pc+5
129: (69) r1 = *(u16 *)(r10 -26)
130: (55) if r1 != 0x16 goto pc+3
131: (62) *(u32 *)(r10 -16) = 6
132: (b7) r9 = 1
133: (05) goto pc+5
; line 18: drop tcp to 3.3.3.0/24
134: (62) *(u32 *)(r10 -16) = 7
135: (b7) r9 = 0
136: (05) goto pc+2
; line 19: default pass
137: (62) *(u32 *)(r10 -16) = 8
138: (b7) r9 = 1
139: (18) r1 = map[counters]
141: (bf) r2 = r10
142: (07) r2 += -16
143: (85) call bpf_map_lookup_elem#1
144: (15) if r0 == 0x0 goto pc+7
145: (79) r1 = *(u64 *)(r0 +0)
146: (07) r1 += 1
147: (7b) *(u64 *)(r0 +0) = r1
148: (79) r1 = *(u64 *)(r0 +8)
149: (61) r2 = *(u32 *)(r10 -20)
150: (0f) r1 += r2
151: (7b) *(u64 *)(r0 +8) = r1
152: (bf) r0 = r9
153: (95) exit
; redirect to socket sock0: its slot in the socket map
154: (62) *(u32 *)(r10 -12) = 0
155: (18) r1 = map[sockets]
157: (bf) r2 = r10
158: (07) r2 += -12
159: (85) call bpf_map_lookup_elem#1
160: (15) if r0 == 0x0 goto pc+12
161: (bf) r7 = r0
162: (bf) r1 = r6
163: (bf) r2 = r7
164: (b7) r3 = 0
165: (85) call bpf_sk_assign#124
166: (bf) r8 = r0
167: (bf) r1 = r7
168: (85) call bpf_sk_release#86
169: (b7) r9 = 1
170: (15) if r8 == 0x0 goto pc-32
171: (b7) r1 = 1
172: (05) goto pc+65
173: (b7) r1 = 0
174: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
175: (62) *(u32 *)(r10 -12) = 1
176: (18) r1 = map[sockets]
178: (bf) r2 = r10
179: (07) r2 += -12
180: (85) call bpf_map_lookup_elem#1
181: (15) if r0 == 0x0 goto pc+12
182: (bf) r7 = r0
183: (bf) r1 = r6
184: (bf) r2 = r7
185: (b7) r3 = 0
186: (85) call bpf_sk_assign#124
187: (bf) r8 = r0
188: (bf) r1 = r7
189: (85) call bpf_sk_release#86
190: (b7) r9 = 1
191: (15) if r8 == 0x0 goto pc-53
192: (b7) r1 = 3
193: (05) goto pc+44
194: (b7) r1 = 2
195: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
196: (62) *(u32 *)(r10 -12) = 2
197: (18) r1 = map[sockets]
199: (bf) r2 = r10
200: (07) r2 += -12
201: (85) call bpf_map_lookup_elem#1
202: (15) if r0 == 0x0 goto pc+12
203: (bf) r7 = r0
204: (bf) r1 = r6
205: (bf) r2 = r7
206: (b7) r3 = 0
207: (85) call bpf_sk_assign#124
208: (bf) r8 = r0
209: (bf) r1 = r7
210: (85) call bpf_sk_release#86
211: (b7) r9 = 1
212: (15) if r8 == 0x0 goto pc-74
213: (b7) r1 = 5
214: (05) goto pc+23
215: (b7) r1 = 4
216: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
217: (62) *(u32 *)(r10 -12) = 3
218: (18) r1 = map[sockets]
220: (bf) r2 = r10
221: (07) r2 += -12
222: (85) call bpf_map_lookup_elem#1
223: (15) if r0 == 0x0 goto pc+12
224: (bf) r7 = r0
225: (bf) r1 = r6
226: (bf) r2 = r7
227: (b7) r3 = 0
228: (85) call bpf_sk_assign#124
229: (bf) r8 = r0
230: (bf) r1 = r7
231: (85) call bpf_sk_release#86
232: (b7) r9 = 1
233: (15) if r8 == 0x0 goto pc-95
234: (b7) r1 = 7
235: (05) goto pc+2
236: (b7) r1 = 6
237: (05) goto pc+0
; redirect dropped: count it for the socket
238: (63) *(u32 *)(r10 -12) = r1
239: (18) r1 = map[socket_drops]
241: (bf) r2 = r10
242: (07) r2 += -12
243: (85) call bpf_map_lookup_elem#1
244: (15) if r0 == 0x0 goto pc+7
245: (79) r1 = *(u64 *)(r0 +0)
246: (07) r1 += 1
247: (7b) *(u64 *)(r0 +0) = r1
248: (79) r1 = *(u64 *)(r0 +8)
249: (61) r2 = *(u32 *)(r10 -20)
250: (0f) r1 += r2
251: (7b) *(u64 *)(r0 +8) = r1
252: (b7) r9 = 0
253: (05) goto pc-115

